package chaos

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/messenger-operator/messenger-operator/hack/chaos/rig"
)

// locate tells, for each lost message of n (up to max per direction), where it went: for a send
// of the instance, whether the instance journaled it as sent (its WhatsApp id) or still queues
// it; for a text of the peer, what the peer phone knows of it (its receipt state) and how much
// the sandbox still queues for the account's devices.
func (n *node) locate(ctx context.Context, sb *rig.Sandbox, max int) []string {
	var out []string
	journal, jerr := n.inst.Messages(ctx)
	byBody := map[string]rig.Message{}
	for _, m := range journal {
		byBody[m.Body] = m
	}
	var queue struct {
		First100 []struct {
			Body, Status string
			LastError    string `json:"last_error"`
			Attempts     int
		}
	}
	_, qerr := rig.Call(ctx, "GET", n.inst.Base+"/showMessagesQueue", true, nil, &queue)
	phoneMsgs, perr := sb.Messages(ctx, peer)
	onPhone := map[string]string{}
	for _, m := range phoneMsgs {
		onPhone[m.Body] = m.Status + " id " + m.ID
	}
	var info struct {
		Queued map[string]int `json:"queued"`
	}
	_, ierr := rig.Call(ctx, "GET", sb.URL+"/sandbox/phones/"+n.account, false, nil, &info)
	if err := errorsOf(jerr, qerr, perr, ierr); err != "" {
		out = append(out, "locating: "+err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	seenOut := map[string]bool{}
	for _, m := range phoneMsgs {
		if !m.FromMe && strings.HasPrefix(m.Body, n.outPrefix()) {
			seenOut[m.Body] = true
		}
	}
	for _, b := range sortedLost(n.accepted, seenOut, max) {
		where := "not in the journal, not queued"
		if m, ok := byBody[b]; ok {
			where = "journaled as sent, id " + m.ID
		}
		for _, q := range queue.First100 {
			if q.Body == b {
				where = fmt.Sprintf("queued: %s, %d attempts, last error %q", q.Status, q.Attempts, q.LastError)
			}
		}
		out = append(out, fmt.Sprintf("instance %d out %q: %s", n.idx, b, where))
	}
	seenIn := map[string]bool{}
	for _, m := range journal {
		if !m.FromMe && strings.HasPrefix(m.Body, n.inPrefix()) {
			seenIn[m.Body] = true
		}
	}
	for _, b := range sortedLost(n.sentIn, seenIn, max) {
		where, ok := onPhone[b]
		if !ok {
			where = "not on the peer phone's list"
		}
		out = append(out, fmt.Sprintf("instance %d in %q: peer phone: %s; sandbox queues for the account: %v", n.idx, b, where, info.Queued))
	}
	return out
}

func sortedLost(want, seen map[string]bool, max int) []string {
	var out []string
	for b := range want {
		if !seen[b] {
			out = append(out, b)
		}
	}
	sort.Strings(out)
	return out[:min(max, len(out))]
}

func errorsOf(errs ...error) string {
	var s []string
	for _, e := range errs {
		if e != nil {
			s = append(s, e.Error())
		}
	}
	return strings.Join(s, "; ")
}
