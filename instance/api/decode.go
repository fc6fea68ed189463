package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// flexString is a request field that accepts a JSON string or number (phones are often numbers).
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
		return errors.New("want a string")
	}
	*f = flexString(n.String())
	return nil
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

// bind decodes a JSON (or form-encoded) request body into dst. On failure it answers with the
// right error (400 malformed, 413 too large, 415 wrong content type) and returns false.
func bind(c *gin.Context, dst any) bool {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			abort(c, http.StatusRequestEntityTooLarge, "request body too large: the limit is %d bytes", tooLarge.Limit)
			return false
		}
		abort(c, http.StatusBadRequest, "reading the request body: %v", err)
		return false
	}
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
		trimmed = []byte("{}")
	case mt == "application/json" || strings.HasSuffix(mt, "+json") || trimmed[0] == '{':
		// JSON, also when a client (curl -d) labels it as a form.
	case mt == "application/x-www-form-urlencoded":
		converted, err := formToJSON(string(trimmed))
		if err != nil {
			abort(c, http.StatusBadRequest, "malformed form body: %v", err)
			return false
		}
		trimmed = converted
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

func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return fmt.Sprintf("field %q: want %s, not %s", typeErr.Field, typeErr.Type, typeErr.Value)
	}
	return err.Error()
}

// formToJSON turns a form body into a JSON object: repeated keys (or key[]) become arrays.
func formToJSON(body string) ([]byte, error) {
	values, err := url.ParseQuery(body)
	if err != nil {
		return nil, err
	}
	obj := map[string]any{}
	for k, v := range values {
		if name, isList := strings.CutSuffix(k, "[]"); isList || len(v) > 1 {
			obj[name] = v
			continue
		}
		obj[k] = v[0]
	}
	return json.Marshal(obj)
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
