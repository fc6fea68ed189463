package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"

	"github.com/messenger-operator/messenger-operator/instance/api"
	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

const (
	// drainBatch is how many queued items one pass reads.
	drainBatch = 100
	// maxAttempts ends a send that keeps failing transiently (about 10 minutes of retries while
	// connected); time spent disconnected does not count, as nothing is attempted then.
	maxAttempts = 100
)

// drainLoop sends queued items, oldest first, whenever the account is logged in. One sender keeps
// the order of the queue, and so the order within every chat.
func (e *Engine) drainLoop(ctx context.Context) {
	tick := time.NewTicker(drainTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-tick.C:
		}
		for e.drainOnce(ctx) {
		}
	}
}

// drainOnce sends one batch; it returns true when there may be more to send right away.
// Recording an item's outcome and claiming the next one (state "sending") are submitted together,
// so the store's group commit makes them one transaction: one commit per message, not two.
func (e *Engine) drainOnce(ctx context.Context) bool {
	cli := e.loggedIn()
	if cli == nil {
		return false
	}
	items, err := e.opts.Store.Pending(ctx, drainBatch)
	if err != nil {
		e.log.Error("reading the queue failed", "err", err)
		return false
	}
	claimed := len(items) > 0 && e.claim(ctx, items[0])
	for i, it := range items {
		if ctx.Err() != nil {
			return false
		}
		if !claimed { // cleared meanwhile
			claimed = i+1 < len(items) && e.claim(ctx, items[i+1])
			continue
		}
		out := e.attempt(ctx, cli, it)
		var wg sync.WaitGroup
		claimed = false
		if out.final && i+1 < len(items) {
			wg.Go(func() { claimed = e.claim(ctx, items[i+1]) })
		}
		e.record(ctx, it, out)
		wg.Wait()
		if !out.final {
			return false // keep the order: a transient failure stops this pass
		}
	}
	return len(items) == drainBatch
}

// claim moves an item to state sending; false means it is gone (the queue was cleared).
func (e *Engine) claim(ctx context.Context, it store.Item) bool {
	if err := e.opts.Store.MarkSending(ctx, it.QueueNumber); err != nil {
		e.log.Warn("queue item vanished before sending", "queueNumber", it.QueueNumber, "err", err)
		return false
	}
	return true
}

// outcome is the result of one attempt to send a queued item.
type outcome struct {
	result string        // e.g. a new group's chat id
	msg    *chat.Message // the journal entry of what was sent
	err    error
	final  bool // sent, or failed for good; false: retry later
}

// attempt sends one claimed item to WhatsApp.
func (e *Engine) attempt(ctx context.Context, cli *whatsmeow.Client, it store.Item) outcome {
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	result, msg, err := e.deliver(sctx, cli, it)
	if msg != nil && cli.Store.ID != nil {
		msg.Author = cli.Store.ID.User + "@" + chat.ServerChatAPI
		msg.SenderName = cli.Store.PushName
	}
	return outcome{result: result, msg: msg, err: err,
		final: err == nil || permanent(err) || it.Attempts+1 >= maxAttempts}
}

// record stores an attempt's outcome: sent, failed for good, or back to the queue.
func (e *Engine) record(ctx context.Context, it store.Item, out outcome) {
	var err error
	switch {
	case out.err == nil:
		e.sendsOK.Add(1)
		err = e.opts.Store.MarkSent(ctx, it.QueueNumber, out.result, out.msg)
	case out.final:
		e.log.Info("send failed for good", "queueNumber", it.QueueNumber, "err", out.err)
		e.sendsFailed.Add(1)
		err = e.opts.Store.MarkFailed(ctx, it.QueueNumber, out.err.Error())
	default:
		e.log.Warn("send failed, will retry", "queueNumber", it.QueueNumber, "err", out.err)
		err = e.opts.Store.Requeue(ctx, it.QueueNumber, out.err.Error())
	}
	if err != nil {
		e.log.Error("recording a send failed", "queueNumber", it.QueueNumber, "err", err)
	}
}

// SendStats returns how many queued sends reached WhatsApp and how many failed for good.
func (e *Engine) SendStats() (sent, failed uint64) { return e.sendsOK.Load(), e.sendsFailed.Load() }

// errPermanent marks failures that retrying cannot fix.
var errPermanent = errors.New("permanent")

func permanent(err error) bool {
	if errors.Is(err, errPermanent) || errors.Is(err, whatsmeow.ErrServerReturnedError) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "no LID found") || strings.Contains(msg, "not on WhatsApp")
}

// deliver sends an item to WhatsApp and returns its result (a new group's id) and its journal entry.
func (e *Engine) deliver(ctx context.Context, cli *whatsmeow.Client, it store.Item) (string, *chat.Message, error) {
	switch it.Kind {
	case store.KindText:
		return "", e.entry(it, chat.TypeChat, it.Body), e.send(ctx, cli, it.ChatID, it.WAID, &waE2E.Message{Conversation: proto.String(it.Body)})
	case store.KindFile:
		return e.deliverFile(ctx, cli, it)
	case store.KindGroup:
		return e.deliverGroup(ctx, cli, it)
	}
	return "", nil, fmt.Errorf("%w: unknown queue item kind %q", errPermanent, it.Kind)
}

func (e *Engine) entry(it store.Item, kind, body string) *chat.Message {
	return &chat.Message{ID: it.MessageID, Body: body, Type: kind, FromMe: true, ChatID: it.ChatID, Time: time.Now().Unix(),
		ChatName: e.entryChatName(it)}
}

// send sends msg to a Chat API chat id with the WhatsApp id fixed at enqueue time.
func (e *Engine) send(ctx context.Context, cli *whatsmeow.Client, chatID, waID string, msg *waE2E.Message) error {
	id, err := chat.ParseChatID(chatID)
	if err != nil {
		return fmt.Errorf("%w: %v", errPermanent, err)
	}
	jid, err := types.ParseJID(id.JID())
	if err != nil {
		return fmt.Errorf("%w: %v", errPermanent, err)
	}
	if id.Kind == chat.Person {
		if err := e.checkOnWhatsApp(ctx, cli, jid); err != nil {
			return err
		}
	}
	_, err = cli.SendMessage(ctx, jid, msg, whatsmeow.SendRequestExtra{ID: waID})
	return err
}

// checkOnWhatsApp fails permanently for numbers WhatsApp does not know (once per number: whatsmeow
// caches the phone-number-to-LID mapping it learns).
func (e *Engine) checkOnWhatsApp(ctx context.Context, cli *whatsmeow.Client, jid types.JID) error {
	if lid, err := cli.Store.LIDs.GetLIDForPN(ctx, jid); err == nil && !lid.IsEmpty() {
		return nil
	}
	res, err := cli.IsOnWhatsApp(ctx, []string{"+" + jid.User})
	if err != nil {
		return fmt.Errorf("checking %s: %w", jid.User, err)
	}
	if len(res) == 0 || !res[0].IsIn {
		return fmt.Errorf("%w: %s is not on WhatsApp", errPermanent, jid.User)
	}
	return nil
}

func (e *Engine) deliverFile(ctx context.Context, cli *whatsmeow.Client, it store.Item) (string, *chat.Message, error) {
	var meta api.FileMetadata
	if err := json.Unmarshal([]byte(it.Metadata), &meta); err != nil {
		return "", nil, fmt.Errorf("%w: bad file metadata: %v", errPermanent, err)
	}
	path, err := e.opts.Media.Path(meta.File)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", errPermanent, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("%w: reading queued file: %v", errPermanent, err)
	}
	msg, err := uploadMessage(ctx, cli, meta, data)
	if err != nil {
		return "", nil, err
	}
	entry := e.entry(it, meta.MediaType, e.opts.Media.Link(meta.File))
	entry.Caption, entry.FileName, entry.MimeType = meta.Caption, meta.FileName, meta.MimeType
	return "", entry, e.send(ctx, cli, it.ChatID, it.WAID, msg)
}

// uploadMessage uploads a file and builds the message that carries it.
func uploadMessage(ctx context.Context, cli *whatsmeow.Client, meta api.FileMetadata, data []byte) (*waE2E.Message, error) {
	kind := map[string]whatsmeow.MediaType{chat.TypeImage: whatsmeow.MediaImage, chat.TypeVideo: whatsmeow.MediaVideo,
		chat.TypeAudio: whatsmeow.MediaAudio, chat.TypePTT: whatsmeow.MediaAudio}[meta.MediaType]
	if kind == "" {
		kind = whatsmeow.MediaDocument
	}
	up, err := cli.Upload(ctx, data, kind)
	if err != nil {
		return nil, fmt.Errorf("uploading %s: %w", meta.FileName, err)
	}
	mime, caption := proto.String(meta.MimeType), proto.String(meta.Caption)
	switch meta.MediaType {
	case chat.TypeImage:
		return &waE2E.Message{ImageMessage: &waE2E.ImageMessage{URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: &up.FileLength, Mimetype: mime, Caption: caption}}, nil
	case chat.TypeVideo:
		return &waE2E.Message{VideoMessage: &waE2E.VideoMessage{URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: &up.FileLength, Mimetype: mime, Caption: caption}}, nil
	case chat.TypeAudio, chat.TypePTT:
		return &waE2E.Message{AudioMessage: &waE2E.AudioMessage{URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: &up.FileLength, Mimetype: mime,
			PTT: proto.Bool(meta.MediaType == chat.TypePTT)}}, nil
	}
	return &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey,
		FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: &up.FileLength, Mimetype: mime,
		FileName: proto.String(meta.FileName), Caption: caption}}, nil
}

// deliverGroup creates a group and sends its first message, if any.
func (e *Engine) deliverGroup(ctx context.Context, cli *whatsmeow.Client, it store.Item) (string, *chat.Message, error) {
	var meta api.GroupMetadata
	if err := json.Unmarshal([]byte(it.Metadata), &meta); err != nil {
		return "", nil, fmt.Errorf("%w: bad group metadata: %v", errPermanent, err)
	}
	req := whatsmeow.ReqCreateGroup{Name: meta.GroupName}
	for _, p := range meta.Participants {
		id, err := chat.ParseChatID(p)
		if err != nil {
			return "", nil, fmt.Errorf("%w: %v", errPermanent, err)
		}
		jid, _ := types.ParseJID(id.JID())
		if id.Kind == chat.Person {
			if err := e.checkOnWhatsApp(ctx, cli, jid); err != nil {
				return "", nil, err
			}
		}
		req.Participants = append(req.Participants, jid)
	}
	info, err := cli.CreateGroup(ctx, req)
	if err != nil {
		return "", nil, fmt.Errorf("creating group: %w", err)
	}
	gid := chat.ID{Kind: chat.Group, User: info.JID.User}.String()
	if meta.MessageText == "" {
		return gid, nil, nil
	}
	entry := e.entry(it, chat.TypeChat, meta.MessageText)
	entry.ChatID = gid
	entry.ID = chat.MessageID{FromMe: true, Chat: chat.ID{Kind: chat.Group, User: info.JID.User}, WAID: it.WAID}.String()
	if err := e.send(ctx, cli, gid, it.WAID, &waE2E.Message{Conversation: proto.String(meta.MessageText)}); err != nil {
		// The group exists: never create it twice. Its first message goes back to the queue alone.
		e.log.Warn("group created but its first message failed; queueing it again", "group", gid, "err", err)
		if _, qerr := e.opts.Store.Enqueue(ctx, store.NewItem{Kind: store.KindText,
			Chat: chat.ID{Kind: chat.Group, User: info.JID.User}, Body: meta.MessageText, Metadata: "{}"}); qerr != nil {
			return "", nil, fmt.Errorf("%w: group %s created but its first message was lost: %v", errPermanent, gid, qerr)
		}
		return gid, nil, nil
	}
	return gid, entry, nil
}
