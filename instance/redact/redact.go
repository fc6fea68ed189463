// Package redact keeps secrets carried in URLs out of logs: the API token in a request's query
// string, and whatever a webhook URL's query string holds.
package redact

import (
	"errors"
	"net/url"
	"strings"
)

// Redacted replaces a secret value.
const Redacted = "REDACTED"

// secretParams are query parameters whose values never reach logs.
var secretParams = map[string]bool{"token": true, "sig": true, "access_token": true}

// Query returns a raw query string with the values of secret parameters (token, sig,
// access_token) replaced by REDACTED; a query that does not parse is REDACTED as a whole.
func Query(raw string) string {
	return query(raw, func(k string) bool { return secretParams[strings.ToLower(k)] })
}

// URL returns raw with every query value replaced by REDACTED, user info and fragment dropped,
// for logs: a webhook URL's query string often carries the receiver's secret under any name.
// A URL that does not parse is REDACTED as a whole.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return Redacted
	}
	u.User = nil
	u.Fragment, u.RawFragment = "", ""
	u.ForceQuery = false
	u.RawQuery = query(u.RawQuery, func(string) bool { return true })
	return u.String()
}

// Error redacts the URL of a *url.Error (what http.Client returns) in place and returns err. Call
// it before wrapping err: fmt.Errorf formats the message at once.
func Error(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = URL(ue.URL)
	}
	return err
}

func query(raw string, secret func(string) bool) string {
	if raw == "" {
		return ""
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return Redacted
	}
	for k := range values {
		if secret(k) {
			values[k] = []string{Redacted}
		}
	}
	return values.Encode()
}
