package redact

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestQuery(t *testing.T) {
	if got := Query("token=abc&lastMessageNumber=5"); strings.Contains(got, "abc") || !strings.Contains(got, "lastMessageNumber=5") {
		t.Fatalf("Query = %q", got)
	}
	if got := Query("Access_Token=abc&sig=def"); strings.Contains(got, "abc") || strings.Contains(got, "def") {
		t.Fatalf("Query = %q", got)
	}
	if got := Query("%zz&token=abc"); got != Redacted {
		t.Fatalf("Query(bad) = %q", got)
	}
}

func TestURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://hooks.example.com/in?token=abc":           "https://hooks.example.com/in?token=REDACTED",
		"https://u:pw@hooks.example.com/in?k=abc&x=1#frag": "https://hooks.example.com/in?k=REDACTED&x=REDACTED",
		"http://10.0.0.1:8080/hook":                        "http://10.0.0.1:8080/hook",
		"http://x/?%zz=abc":                                "http://x/?REDACTED",
		"http://x/\x7f?token=abc":                          Redacted,
		"":                                                 "",
	} {
		if got := URL(raw); got != want {
			t.Errorf("URL(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestError(t *testing.T) {
	_, err := http.Get("http://127.0.0.1:1/hook?token=abc") // nothing listens on port 1
	if err == nil {
		t.Fatal("no error from port 1")
	}
	wrapped := fmt.Errorf("posting: %w", Error(err))
	if strings.Contains(wrapped.Error(), "abc") || !strings.Contains(wrapped.Error(), "token=REDACTED") {
		t.Fatalf("Error = %v", wrapped)
	}
	plain := errors.New("no URL here")
	if Error(plain) != plain {
		t.Fatal("Error changed an error without a URL")
	}
}
