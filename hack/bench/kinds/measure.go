package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/sandbox"
)

// bench holds what every kind's measurement uses.
type bench struct {
	cfg      config
	sb       *sandboxProc
	inst     *instanceProc
	payloads *payloads
}

// result is one kind's figures.
type result struct {
	kind, endpoint string
	n              int
	p50, p99       time.Duration
}

// measure times cfg.sends sends of kind k to a fresh phone, one after the other. An untimed text
// goes first: it sets up the Signal session and is the message reactions and edits refer to.
func (b *bench) measure(ctx context.Context, k *kind, phone string) (result, error) {
	if err := b.sb.addPhone(ctx, phone, "Receiver "+k.name); err != nil {
		return result{}, err
	}
	target, _, err := b.send(ctx, kindByName("text"), phone, -1, "")
	if err != nil {
		return result{}, fmt.Errorf("warm-up text: %w", err)
	}
	ds := make([]time.Duration, 0, b.cfg.sends)
	for i := range b.cfg.sends {
		_, d, err := b.send(ctx, k, phone, i, target)
		if err != nil {
			return result{}, fmt.Errorf("send %d: %w", i, err)
		}
		ds = append(ds, d)
	}
	return result{kind: k.name, endpoint: k.endpoint, n: len(ds), p50: percentile(ds, 50), p99: percentile(ds, 99)}, nil
}

// send posts the i-th message of kind k to phone and waits until the phone shows it; it returns
// the instance's message id and the time from the call to the phone's copy.
func (b *bench) send(ctx context.Context, k *kind, phone string, i int, target string) (string, time.Duration, error) {
	body := k.body(b.payloads, i, target)
	if !k.refers {
		body["phone"] = phone
	}
	start := time.Now()
	var ans struct {
		Sent bool   `json:"sent"`
		ID   string `json:"id"`
	}
	if err := b.inst.call(ctx, "POST", k.endpoint, body, &ans); err != nil {
		return "", 0, err
	}
	id, err := chat.ParseMessageID(ans.ID)
	if !ans.Sent || err != nil {
		return "", 0, fmt.Errorf("%s answered sent=%v, id %q (%v)", k.endpoint, ans.Sent, ans.ID, err)
	}
	m, err := b.waitPhone(ctx, phone, id.WAID, k)
	elapsed := time.Since(start)
	if err != nil {
		return "", 0, err
	}
	if k.check != nil {
		if err := k.check(m, i); err != nil {
			return "", 0, fmt.Errorf("the phone shows %s: %w", id.WAID, err)
		}
	}
	return ans.ID, elapsed, nil
}

// waitPhone polls the phone's list until it holds the message waid (for media: downloaded).
func (b *bench) waitPhone(ctx context.Context, phone, waid string, k *kind) (sandbox.PhoneMessage, error) {
	deadline := time.Now().Add(b.cfg.timeout)
	for {
		msgs, err := b.sb.messages(ctx, phone)
		if err != nil {
			return sandbox.PhoneMessage{}, err
		}
		if m, done, err := arrived(msgs, waid, k); done || err != nil {
			return m, err
		}
		if time.Now().After(deadline) {
			return sandbox.PhoneMessage{}, fmt.Errorf("phone %s did not show %s within %v", phone, waid, b.cfg.timeout)
		}
		select {
		case <-ctx.Done():
			return sandbox.PhoneMessage{}, ctx.Err()
		case <-time.After(b.cfg.poll):
		}
	}
}

// arrived looks for message waid in a phone's list (newest last): done once it is there with its
// file, if any, decrypted; an error when it shows up as another type or its download failed.
func arrived(msgs []sandbox.PhoneMessage, waid string, k *kind) (sandbox.PhoneMessage, bool, error) {
	for _, m := range slices.Backward(msgs) {
		if m.ID != waid {
			continue
		}
		switch {
		case m.Type != k.phoneType:
			return m, false, fmt.Errorf("the phone shows %s as type %q, want %q", waid, m.Type, k.phoneType)
		case !k.media:
			return m, true, nil
		case m.Media == nil:
			return m, false, fmt.Errorf("the phone shows %s without media", waid)
		case m.Media.Error != "":
			return m, false, fmt.Errorf("the phone could not download %s: %s", waid, m.Media.Error)
		}
		return m, m.Media.SHA256 != "", nil
	}
	return sandbox.PhoneMessage{}, false, nil
}

// percentile returns the p-th percentile (nearest rank) of ds.
func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := max((p*len(s)+99)/100, 1)
	return s[rank-1]
}
