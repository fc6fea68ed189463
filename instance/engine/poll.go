package engine

import (
	"context"
	"encoding/hex"
	"errors"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// pollOf returns the poll a message creates, in any of its versions.
func pollOf(msg *waE2E.Message) *waE2E.PollCreationMessage {
	for _, p := range []*waE2E.PollCreationMessage{msg.GetPollCreationMessage(), msg.GetPollCreationMessageV2(),
		msg.GetPollCreationMessageV3(), msg.GetPollCreationMessageV5(), msg.GetPollCreationMessageV6()} {
		if p != nil {
			return p
		}
	}
	return nil
}

// pollContent is a poll's content: its question as body, and its options. A selectable count of 1
// is a single-choice poll; 0 (any) or more is multiple choice.
func pollContent(p *waE2E.PollCreationMessage) content {
	poll := &chat.Poll{Name: p.GetName(), Options: []string{}, Multiple: p.GetSelectableOptionsCount() != 1}
	for _, o := range p.GetOptions() {
		poll.Options = append(poll.Options, o.GetOptionName())
	}
	return content{kind: chat.TypePoll, body: p.GetName(), poll: poll}
}

// decryptVote opens a poll vote with the poll's secret, which whatsmeow keeps in its msgsecret store
// for every poll the account sent or received, and names the chosen options from the poll's
// journal entry (m.QuotedMsgID). It returns false when the vote cannot be decrypted (the poll was
// never seen); the caller then drops the vote.
func (e *Engine) decryptVote(cli *whatsmeow.Client, ev *events.Message, m *chat.Message) bool {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	vote, err := cli.DecryptPollVote(ctx, ev)
	if err != nil {
		e.log.Warn("a poll vote could not be decrypted; it is not journaled", "err", err, "poll", m.QuotedMsgID, "vote", m.ID)
		return false
	}
	m.SelectedOptions = optionNames(e.pollOptions(ctx, m.QuotedMsgID), vote.GetSelectedOptions())
	return true
}

// pollOptions returns the options of the journaled poll id (none when the journal does not hold it).
func (e *Engine) pollOptions(ctx context.Context, id string) []string {
	poll, err := e.opts.Store.Message(ctx, id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			e.log.Warn("looking up a voted poll failed", "err", err, "poll", id)
		}
		return nil
	}
	if poll.Poll == nil {
		return nil
	}
	return poll.Poll.Options
}

// optionNames maps the SHA-256 hashes of a vote back to the poll's option names; a hash no option
// has is shown in hex.
func optionNames(options []string, hashes [][]byte) []string {
	byHash := map[string]string{}
	for i, h := range whatsmeow.HashPollOptions(options) {
		byHash[string(h)] = options[i]
	}
	names := []string{}
	for _, h := range hashes {
		if name, ok := byHash[string(h)]; ok {
			names = append(names, name)
		} else {
			names = append(names, hex.EncodeToString(h))
		}
	}
	return names
}

// decryptReaction opens an encrypted reaction (the emoji is sealed with the target's secret). It
// returns false when it cannot.
func (e *Engine) decryptReaction(cli *whatsmeow.Client, ev *events.Message, m *chat.Message) bool {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	r, err := cli.DecryptReaction(ctx, ev)
	if err != nil {
		e.log.Warn("an encrypted reaction could not be decrypted; it is not journaled", "err", err, "target", m.QuotedMsgID)
		return false
	}
	m.Body = r.GetText()
	return true
}
