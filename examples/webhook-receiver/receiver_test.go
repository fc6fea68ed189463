package main

import (
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/webhook"
)

const body = `{"instanceId":"sales","messages":[{"id":"false_15550001111@c.us_3EB0","body":"hi","type":"chat","chatId":"15550001111@c.us","messageNumber":7}],"ack":[{"id":"true_15550001111@c.us_3EB1","queueNumber":3,"chatId":"15550001111@c.us","status":"delivered"}]}`

// post sends body signed by the instance's own signer (instance/webhook.Sign).
func post(t *testing.T, h http.Handler, key []byte, id string, ts int64, sig string) int {
	t.Helper()
	if sig == "" && key != nil {
		sig = webhook.Sign(key, id, ts, []byte(body))
	}
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	if sig != "" {
		req.Header.Set("webhook-signature", sig)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func TestReceiverVerifiesInstanceSignatures(t *testing.T) {
	raw := []byte("0123456789abcdef0123456789abcdef")
	secret := "whsec_" + base64.StdEncoding.EncodeToString(raw)
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	var got []Payload
	h := &Handler{Verifier: v, Log: slog.New(slog.DiscardHandler), Handle: func(p Payload) error { got = append(got, p); return nil }}
	now := time.Now().Unix()

	if code := post(t, h, key, "msg_1", now, ""); code != http.StatusNoContent {
		t.Fatalf("valid delivery: %d", code)
	}
	if len(got) != 1 || got[0].InstanceID != "sales" || got[0].Messages[0].MessageNumber != 7 || got[0].Ack[0].Status != "delivered" {
		t.Fatalf("payload %+v", got)
	}
	if code := post(t, h, key, "msg_1", now, ""); code != http.StatusNoContent || len(got) != 1 {
		t.Fatalf("retry of msg_1: %d, handled %d times", code, len(got))
	}
	// Key rotation: several signatures, one valid.
	rotated := "v1,AAAA " + webhook.Sign(key, "msg_2", now, []byte(body))
	if code := post(t, h, nil, "msg_2", now, rotated); code != http.StatusNoContent {
		t.Fatalf("rotated signatures: %d", code)
	}
	for name, tc := range map[string]struct {
		key []byte
		id  string
		ts  int64
		sig string
	}{
		"wrong key":     {[]byte("other"), "msg_3", now, ""},
		"stale":         {key, "msg_4", now - int64(2*Tolerance/time.Second), ""},
		"future":        {key, "msg_5", now + int64(2*Tolerance/time.Second), ""},
		"unsigned":      {nil, "msg_6", now, ""},
		"other version": {nil, "msg_7", now, "v2," + strings.TrimPrefix(webhook.Sign(key, "msg_7", now, []byte(body)), "v1,")},
		"id swapped":    {nil, "msg_8", now, webhook.Sign(key, "msg_9", now, []byte(body))},
	} {
		if code := post(t, h, tc.key, tc.id, tc.ts, tc.sig); code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
	if len(got) != 2 {
		t.Fatalf("refused deliveries were handled: %d payloads", len(got))
	}
}

func TestReceiverAsksForRetryWhenHandlingFails(t *testing.T) {
	v, _ := NewVerifier("raw-secret")
	fail := true
	handled := 0
	h := &Handler{Verifier: v, Log: slog.New(slog.DiscardHandler), Handle: func(Payload) error {
		if fail {
			return errors.New("database down")
		}
		handled++
		return nil
	}}
	now := time.Now().Unix()
	if code := post(t, h, []byte("raw-secret"), "msg_1", now, ""); code != http.StatusServiceUnavailable {
		t.Fatalf("failing handler: %d", code)
	}
	fail = false
	if code := post(t, h, []byte("raw-secret"), "msg_1", now, ""); code != http.StatusNoContent || handled != 1 {
		t.Fatalf("retry after failure: %d, handled %d", code, handled)
	}
}

func TestNewVerifierRejectsBadSecrets(t *testing.T) {
	for _, s := range []string{"whsec_", "whsec_!!!"} {
		if _, err := NewVerifier(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
