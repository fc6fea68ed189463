package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/account"
)

// The checkPhone cache forgets answers after their TTL (negative ones sooner) and never holds more
// than phoneCacheSize numbers.
func TestPhoneCacheIsBoundedWithTTL(t *testing.T) {
	var c phoneCache
	now := time.Unix(1_700_000_000, 0)
	c.put("15550002222", account.PhoneCheck{Exists: true, ChatID: "15550002222@c.us"}, now)
	c.put("19998887777", account.PhoneCheck{ChatID: "19998887777@c.us"}, now)
	if got, ok := c.get("15550002222", now.Add(phoneCacheTTL-time.Second)); !ok || !got.Exists {
		t.Fatalf("fresh positive answer: %+v %v", got, ok)
	}
	if _, ok := c.get("19998887777", now.Add(phoneMissingTTL+time.Second)); ok {
		t.Fatal("a negative answer outlived its TTL")
	}
	if _, ok := c.get("15550002222", now.Add(phoneCacheTTL+time.Second)); ok {
		t.Fatal("a positive answer outlived its TTL")
	}
	for i := range phoneCacheSize + 50 {
		c.put(fmt.Sprintf("1555%07d", i), account.PhoneCheck{Exists: true}, now.Add(time.Duration(i)*time.Millisecond))
	}
	if n := len(c.entries); n > phoneCacheSize {
		t.Fatalf("cache holds %d numbers, more than %d", n, phoneCacheSize)
	}
	if _, ok := c.get(fmt.Sprintf("1555%07d", phoneCacheSize+49), now); !ok {
		t.Fatal("the newest answer was evicted")
	}
}
