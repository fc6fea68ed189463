package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// flexString is a request field that accepts a JSON string or number: phones and one-time codes
// are often sent as numbers (PHP json_encode of an int, JavaScript numbers).
type flexString string

// UnmarshalJSON accepts "text", 123 and null.
func (f *flexString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[string]()}
	}
	*f = flexString(n.String())
	return nil
}

// flexStrings is a list field that accepts an array of strings or numbers, or one string or
// number; one string may list several values separated by commas or semicolons
// ("17472822486,79680565372"). Empty entries are dropped.
type flexStrings []string

// UnmarshalJSON accepts ["a", 1], "a", "a,b", 1 and null.
func (f *flexStrings) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	var items []flexString
	if len(b) > 0 && b[0] == '[' {
		if err := json.Unmarshal(b, &items); err != nil {
			return &json.UnmarshalTypeError{Value: "array of " + jsonKind(b[1:]), Type: reflect.TypeFor[[]string]()}
		}
	} else {
		var one flexString
		if err := one.UnmarshalJSON(b); err != nil {
			return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[[]string]()}
		}
		for part := range strings.FieldsFuncSeq(string(one), func(r rune) bool { return r == ',' || r == ';' }) {
			items = append(items, flexString(part))
		}
	}
	out := make(flexStrings, 0, len(items))
	for _, it := range items {
		if v := strings.TrimSpace(string(it)); v != "" {
			out = append(out, v)
		}
	}
	*f = out
	return nil
}

// jsonKind names the kind of the JSON value b starts with, for error messages.
func jsonKind(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// flexBool accepts true/false, 1/0 and their string forms; Set tells whether it was given.
type flexBool struct {
	Set   bool
	Value bool
}

// UnmarshalJSON accepts true, false, 1, 0, "1", "0", "true", "false".
func (f *flexBool) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := parseBool(s)
	if err != nil {
		return err
	}
	*f = flexBool{Set: true, Value: v}
	return nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "on", "yes":
		return true, nil
	case "0", "false", "off", "no":
		return false, nil
	}
	return false, fmt.Errorf("want 1, 0, true or false, not %q", s)
}

// bind decodes a request body into dst: JSON (also unlabelled, or labelled as a form or as text,
// as curl -d and fetch send it), a form (application/x-www-form-urlencoded, also unlabelled) or a
// multipart form's fields (PHP curl with an array). On failure it answers with the right error
// (400 malformed, 408 too slow, 413 too large, 415 wrong content type, 422 a field that is not
// UTF-8) and returns false.
func bind(c *gin.Context, dst any) bool {
	var ok bool
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		abortBodyError(c, err)
		return false
	}
	mt, params, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
		trimmed = []byte("{}")
	case mt == "multipart/form-data":
		values, err := multipartValues(body, params["boundary"])
		if err != nil {
			abort(c, http.StatusBadRequest, "malformed multipart form: %v", err)
			return false
		}
		if trimmed, ok = formJSON(c, values); !ok {
			return false
		}
	case mt == "application/json" || strings.HasSuffix(mt, "+json") || trimmed[0] == '{':
		// JSON, also when a client (curl -d, fetch with a string body) labels it otherwise.
		if !validUTF8JSON(c, trimmed) {
			return false
		}
	case mt == "application/x-www-form-urlencoded" || (mt == "" || mt == "text/plain") && looksLikeForm(trimmed):
		values, err := url.ParseQuery(string(trimmed))
		if err != nil {
			abort(c, http.StatusBadRequest, "malformed form body: %v", err)
			return false
		}
		if trimmed, ok = formJSON(c, values); !ok {
			return false
		}
	case mt == "" || mt == "text/plain":
		// Not a form: decode as JSON, which explains what is wrong.
		if !validUTF8JSON(c, trimmed) {
			return false
		}
	default:
		abort(c, http.StatusUnsupportedMediaType, "unsupported Content-Type %q: send application/json", mt)
		return false
	}
	if err := json.Unmarshal(trimmed, dst); err != nil {
		abort(c, http.StatusBadRequest, "malformed JSON: %s", describeJSONError(err))
		return false
	}
	return true
}

// looksLikeForm reports whether an unlabelled body reads as key=value pairs rather than JSON.
func looksLikeForm(b []byte) bool {
	return len(b) > 0 && !strings.ContainsRune(`{["`, rune(b[0])) && bytes.IndexByte(b, '=') > 0
}

func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return fmt.Sprintf("field %q: want %s, not %s", typeErr.Field, typeErr.Type, typeErr.Value)
	}
	return err.Error()
}

// formJSON checks a form's values are UTF-8 (else 422) and turns them into a JSON object:
// repeated keys, key[] and PHP's indexed key[0], key[1] (http_build_query) become arrays.
func formJSON(c *gin.Context, values url.Values) ([]byte, bool) {
	if !validUTF8Form(c, values) {
		return nil, false
	}
	doc, err := json.Marshal(formObject(values))
	if err != nil {
		abort(c, http.StatusBadRequest, "malformed form body: %v", err)
		return nil, false
	}
	return doc, true
}

// multipartValues reads the fields of a multipart form; file parts are not fields and are left out.
func multipartValues(body []byte, boundary string) (url.Values, error) {
	if boundary == "" {
		return nil, errors.New("no boundary in the Content-Type")
	}
	form, err := multipart.NewReader(bytes.NewReader(body), boundary).ReadForm(int64(len(body)) + 1)
	if err != nil {
		return nil, err
	}
	defer func() { _ = form.RemoveAll() }()
	return form.Value, nil
}

// formObject builds the JSON object of form values.
func formObject(values map[string][]string) map[string]any {
	obj := map[string]any{}
	indexed := map[string]map[int]string{}
	for k, v := range values {
		if name, idx, ok := indexedKey(k); ok {
			if indexed[name] == nil {
				indexed[name] = map[int]string{}
			}
			indexed[name][idx] = v[len(v)-1]
			continue
		}
		if name, isList := strings.CutSuffix(k, "[]"); isList || len(v) > 1 {
			obj[name] = v
			continue
		}
		obj[k] = v[0]
	}
	for name, byIndex := range indexed {
		list := make([]string, 0, len(byIndex))
		for _, i := range slices.Sorted(maps.Keys(byIndex)) {
			list = append(list, byIndex[i])
		}
		if prev, ok := obj[name].([]string); ok {
			list = append(prev, list...)
		}
		obj[name] = list
	}
	return obj
}

// indexedKey splits a PHP list key, name[3], into name and 3.
func indexedKey(k string) (string, int, bool) {
	open := strings.LastIndexByte(k, '[')
	if open <= 0 || !strings.HasSuffix(k, "]") {
		return "", 0, false
	}
	i, err := strconv.Atoi(k[open+1 : len(k)-1])
	if err != nil || i < 0 {
		return "", 0, false
	}
	return k[:open], i, true
}

// queryInt parses an optional non-negative integer query parameter.
func queryInt(c *gin.Context, name string, def int64) (int64, bool) {
	raw, ok := c.GetQuery(name)
	if !ok || raw == "" {
		return def, true
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 0 {
		abort(c, http.StatusBadRequest, "%s must be a non-negative integer, not %q", name, raw)
		return 0, false
	}
	return n, true
}

// validUTF8JSON answers 422 naming the field when a key or string of the JSON document doc is not
// valid UTF-8: raw bytes, or a \u escape of a lone UTF-16 surrogate. encoding/json would silently
// turn either into U+FFFD. Malformed JSON passes: decoding it reports the error.
func validUTF8JSON(c *gin.Context, doc []byte) bool {
	if field, bad := invalidUTF8Field(doc); bad {
		abort(c, http.StatusUnprocessableEntity, "field %q is not valid UTF-8", field)
		return false
	}
	return true
}

// validUTF8Form answers 422 naming the field when a form key or value is not valid UTF-8.
func validUTF8Form(c *gin.Context, values url.Values) bool {
	for k, vs := range values {
		bad := !utf8.ValidString(k)
		for _, v := range vs {
			bad = bad || !utf8.ValidString(v)
		}
		if bad {
			abort(c, http.StatusUnprocessableEntity, "field %q is not valid UTF-8", strings.ToValidUTF8(k, "\uFFFD"))
			return false
		}
	}
	return true
}

// jsonFrame is an object or array being walked by invalidUTF8Field.
type jsonFrame struct {
	object  bool
	key     string
	wantKey bool
	index   int
}

// invalidUTF8Field returns the path (a.b[2]) of the first key or string of doc that is not valid
// UTF-8, and whether there is one.
func invalidUTF8Field(doc []byte) (string, bool) {
	if utf8.Valid(doc) && !bytes.Contains(doc, []byte(`\u`)) {
		return "", false
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	var stack []jsonFrame
	var prev int64
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		raw := doc[prev:dec.InputOffset()]
		prev = dec.InputOffset()
		var top *jsonFrame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if str, ok := tok.(string); ok && top != nil && top.object && top.wantKey {
			top.key, top.wantKey = str, false
			if !validJSONString(raw) {
				return jsonPath(stack), true
			}
			continue
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			valueDone(stack)
			continue
		}
		if top != nil && !top.object {
			top.index++
		}
		switch tok := tok.(type) {
		case json.Delim:
			stack = append(stack, jsonFrame{object: tok == '{', wantKey: tok == '{', index: -1})
		case string:
			if !validJSONString(raw) {
				return jsonPath(stack), true
			}
			valueDone(stack)
		default:
			valueDone(stack)
		}
	}
}

// valueDone records that the innermost container got a whole value: an object wants a key next.
func valueDone(stack []jsonFrame) {
	if len(stack) > 0 && stack[len(stack)-1].object {
		stack[len(stack)-1].wantKey = true
	}
}

func jsonPath(stack []jsonFrame) string {
	var b strings.Builder
	for _, f := range stack {
		if !f.object {
			fmt.Fprintf(&b, "[%d]", f.index)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strings.ToValidUTF8(f.key, "\uFFFD"))
	}
	return b.String()
}

// validJSONString reports whether raw JSON text (one string token with its separators) is valid
// UTF-8 and escapes no lone surrogate.
func validJSONString(raw []byte) bool {
	if !utf8.Valid(raw) {
		return false
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++
		if i >= len(raw) || raw[i] != 'u' {
			continue
		}
		r, ok := hex4(raw[i+1:])
		switch {
		case !ok:
		case r >= 0xDC00 && r <= 0xDFFF:
			return false
		case r >= 0xD800 && r <= 0xDBFF:
			low, ok := rune(0), false
			if rest := raw[i+5:]; len(rest) >= 6 && rest[0] == '\\' && rest[1] == 'u' {
				low, ok = hex4(rest[2:])
			}
			if !ok || low < 0xDC00 || low > 0xDFFF {
				return false
			}
			i += 6
		}
		i += 4
	}
	return true
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 32)
	return rune(n), err == nil
}
