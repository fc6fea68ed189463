package sandbox

import (
	"fmt"
	"testing"
)

// TestPhoneForgetsTheOldestBeyondItsLimit: a phone keeps Options.PhoneMessages messages, the
// newest, and no longer finds the forgotten ones by id.
func TestPhoneForgetsTheOldestBeyondItsLimit(t *testing.T) {
	p := &Phone{srv: &Server{opts: Options{PhoneMessages: 3}}, byID: map[string]*PhoneMessage{}}
	for i := range 5 {
		p.remember(&PhoneMessage{ID: fmt.Sprintf("m%d", i), Type: "chat", Body: fmt.Sprint(i)})
	}
	if len(p.messages) != 3 || p.messages[0].ID != "m2" || p.messages[2].ID != "m4" {
		t.Fatalf("kept %d messages, first %q: want m2..m4", len(p.messages), p.messages[0].ID)
	}
	if _, ok := p.byID["m1"]; ok {
		t.Fatal("a forgotten message is still found by id")
	}
	if _, ok := p.byID["m2"]; !ok {
		t.Fatal("a kept message is not found by id")
	}
}
