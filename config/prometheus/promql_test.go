package prometheus_test

import "unicode"

// selector is one metric named in a PromQL expression with the labels its matchers use.
type selector struct {
	metric string
	labels []string
}

// promqlKeywords are words of PromQL that are neither functions nor metrics.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true, "offset": true, "bool": true, "atan2": true, "inf": true, "nan": true,
}

// aggregations may be followed by a by/without clause before their parenthesis.
var aggregations = map[string]bool{"sum": true, "min": true, "max": true, "avg": true, "count": true, "group": true,
	"stddev": true, "stdvar": true, "topk": true, "bottomk": true, "quantile": true, "count_values": true,
	"limitk": true, "limit_ratio": true}

// groupingKeywords are followed by a parenthesized list of label names.
var groupingKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true}

// selectors lists the metrics an expression reads, with the label names of their matchers. It is
// a small scanner, not a full parser: function calls and keywords are recognized by shape.
func selectors(expr string) []selector {
	var out []selector
	r := []rune(expr)
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(r, i)
		case c == '[':
			i = skipTo(r, i, ']')
		case c == '{':
			// A bare {…} selector without a metric name: nothing to check by name.
			i = skipTo(r, i, '}')
		case unicode.IsDigit(c) || c == '.':
			for i < len(r) && (unicode.IsLetter(r[i]) || unicode.IsDigit(r[i]) || r[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(r) && isIdent(r[j]) {
				j++
			}
			word := string(r[i:j])
			k := j
			for k < len(r) && unicode.IsSpace(r[k]) {
				k++
			}
			switch {
			case groupingKeywords[word] && k < len(r) && r[k] == '(':
				i = skipTo(r, k, ')')
			case promqlKeywords[word] || aggregations[word]:
				i = j
			case k < len(r) && r[k] == '(':
				i = j // a function or an aggregation
			case k < len(r) && r[k] == '{':
				end := skipTo(r, k, '}')
				out = append(out, selector{metric: word, labels: matcherLabels(string(r[k+1 : end-1]))})
				i = end
			default:
				out = append(out, selector{metric: word})
				i = j
			}
		default:
			i++
		}
	}
	return out
}

// matcherLabels returns the label names of `a="x", b=~"y"`.
func matcherLabels(s string) []string {
	var out []string
	r := []rune(s)
	for i := 0; i < len(r); {
		switch {
		case r[i] == '"' || r[i] == '\'' || r[i] == '`':
			i = skipString(r, i)
		case isIdentStart(r[i]):
			j := i
			for j < len(r) && isIdent(r[j]) {
				j++
			}
			out = append(out, string(r[i:j]))
			i = j
		default:
			i++
		}
	}
	return out
}

func isIdentStart(c rune) bool { return c == '_' || c == ':' || unicode.IsLetter(c) }
func isIdent(c rune) bool      { return isIdentStart(c) || unicode.IsDigit(c) }

// skipString returns the index after the string literal starting at i.
func skipString(r []rune, i int) int {
	q := r[i]
	for i++; i < len(r); i++ {
		if r[i] == '\\' && q != '`' {
			i++
			continue
		}
		if r[i] == q {
			return i + 1
		}
	}
	return i
}

// skipTo returns the index after the bracket closing the one at i, skipping strings.
func skipTo(r []rune, i int, closer rune) int {
	open := r[i]
	depth := 0
	for ; i < len(r); i++ {
		switch {
		case r[i] == '"' || r[i] == '\'' || r[i] == '`':
			i = skipString(r, i) - 1
		case r[i] == open:
			depth++
		case r[i] == closer:
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return i
}
