package api

import (
	"context"
	"net/http"
	"strings"
)

// instanceSegment starts the path segment chat-api.com put in front of every endpoint
// (https://eu14.chat-api.com/instance12345/sendMessage): the gateway routes by it, the instance
// ignores it.
const instanceSegment = "/instance"

type prefixKey struct{}

// stripInstancePrefix serves /instance<digits>/<path> as /<path>; the stripped prefix is kept in
// the request's context (instancePrefix) so links can carry it back.
func stripInstancePrefix(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, prefix, ok := cutInstancePrefix(r.URL.Path)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		u := *r.URL
		u.Path = rest
		if raw, _, found := cutInstancePrefix(u.RawPath); found {
			u.RawPath = raw
		} else {
			u.RawPath = ""
		}
		r = r.WithContext(context.WithValue(r.Context(), prefixKey{}, prefix))
		r.URL = &u
		next.ServeHTTP(w, r)
	})
}

// cutInstancePrefix splits /instance<digits>[/rest] into /rest (at least "/") and the prefix.
func cutInstancePrefix(path string) (rest, prefix string, ok bool) {
	if !strings.HasPrefix(path, instanceSegment) {
		return path, "", false
	}
	end := len(instanceSegment)
	for end < len(path) && path[end] >= '0' && path[end] <= '9' {
		end++
	}
	if end == len(instanceSegment) || end < len(path) && path[end] != '/' {
		return path, "", false
	}
	rest = path[end:]
	if rest == "" {
		rest = "/"
	}
	return rest, path[:end], true
}

// instancePrefix returns the /instance<digits> prefix the request came with, or "".
func instancePrefix(r *http.Request) string {
	p, _ := r.Context().Value(prefixKey{}).(string)
	return p
}
