package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/queue"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/internal/sessionguard"
)

const (
	// drainBatch is how many due items one pass reads.
	drainBatch = 100
	// drainLanes is how many chats are sent to at once.
	drainLanes = 4
	// maxAttempts ends a send that keeps failing transiently: with the store's backoff (2 s
	// doubling to 5 min) about an hour of retries while connected; time spent disconnected does
	// not count, as nothing is attempted then.
	maxAttempts = 20
	// drainCoalesce is how long wakes wait after a pass that found only chats already being sent
	// to: each pass reads the queue, and a burst of POSTs to one busy chat would otherwise make a
	// pass of each (a tenth of the instance's CPU in a burst). A lane that finishes does not wait.
	drainCoalesce = 20 * time.Millisecond
)

// drainLoop sends due queue items whenever the account is logged in: on a wake (new items, a
// connection), when a chat's lane finished, when the earliest backed-off item becomes due, and on
// a slow tick. Wakes right after a pass that started nothing while lanes run are coalesced for
// drainCoalesce. It waits for the lanes it started before it returns.
func (e *Engine) drainLoop(ctx context.Context) {
	tick := time.NewTicker(drainTick)
	defer tick.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	lanes := &laneSet{slots: make(chan struct{}, drainLanes), busy: map[string]bool{}, done: make(chan struct{}, 1)}
	defer lanes.wg.Wait()
	var quiet time.Time // wakes wait until then
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
			if wait := time.Until(quiet); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				case <-lanes.done:
					t.Stop()
				}
			}
		case <-lanes.done:
		case <-tick.C:
		case <-retry.C:
		}
		quiet = time.Time{}
		if started := e.drainOnce(ctx, lanes); started == 0 && len(lanes.slots) > 0 {
			quiet = time.Now().Add(drainCoalesce)
		}
		retry.Reset(e.untilNextRetry(ctx))
	}
}

// untilNextRetry is how long until the earliest backed-off item is due, or the daily limit's
// hold ends (an hour when neither comes sooner).
func (e *Engine) untilNextRetry(ctx context.Context) time.Duration {
	wait := time.Hour
	if held := e.held(); !held.IsZero() {
		wait = min(wait, time.Until(held))
	}
	if next, ok, err := e.opts.Store.NextRetry(ctx, time.Now()); err == nil && ok {
		wait = min(wait, time.Until(next))
	}
	return max(wait, time.Millisecond)
}

// checkHeld reports whether the daily limit holds messages now, and records until when for the
// drainer's timer.
func (e *Engine) checkHeld(ctx context.Context) bool {
	if e.opts.Store.Settings().DailyLimit > 0 {
		if p, err := e.pacer.status(ctx); err == nil && p.Held {
			e.holdUntil(time.UnixMilli(p.NextSendAt))
			return true // the drainer's timer comes back at the next day
		}
	}
	e.mu.Lock()
	e.heldUntil = time.Time{} // not held (any more: the limit may have been raised)
	e.mu.Unlock()
	return false
}

// held returns when the daily limit's hold ends, or zero when sends are not held.
func (e *Engine) held() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if time.Now().After(e.heldUntil) {
		return time.Time{}
	}
	return e.heldUntil
}

// laneSet is the chats being sent to: at most drainLanes at once, each chat in one lane only.
type laneSet struct {
	slots chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	busy  map[string]bool
	done  chan struct{} // a lane finished with progress
}

// drainOnce starts lanes for the due items. The store lists the due items of every chat in queue
// order; they are split into one lane per chat (each group creation is a lane of its own) and up to
// drainLanes lanes run at once, without waiting for each other, so a chat whose attempt is slow or
// failing does not hold back the others. Within a lane the items go in order, and a lane stops at
// an item put back for a retry, so its later items keep waiting. A lane that finishes with
// progress wakes the drainer for what came due behind it. It returns how many lanes it started.
func (e *Engine) drainOnce(ctx context.Context, ls *laneSet) (started int) {
	cli := e.loggedIn()
	if cli == nil {
		return 0
	}
	held := e.checkHeld(ctx)
	items, err := e.opts.Store.Due(ctx, time.Now(), drainBatch)
	if err != nil {
		e.log.Error("reading the queue failed", "err", err)
		return 0
	}
	if held { // the daily limit holds messages; group actions still go
		items = slices.DeleteFunc(items, func(it store.Item) bool { return !queue.IsAction(it.Kind) })
	}
	var keys []string
	lanes := map[string][]store.Item{}
	for _, it := range items {
		key := it.ChatID
		if it.Kind == store.KindGroup {
			key = "group " + it.WAID
		}
		if _, ok := lanes[key]; !ok {
			keys = append(keys, key)
		}
		lanes[key] = append(lanes[key], it)
	}
	for _, key := range keys {
		ls.mu.Lock()
		busy := ls.busy[key]
		ls.busy[key] = true
		ls.mu.Unlock()
		if busy { // that lane goes on by itself
			continue
		}
		select {
		case ls.slots <- struct{}{}:
		case <-ctx.Done():
			return started
		}
		started++
		lane := lanes[key]
		ls.wg.Go(func() {
			progress, offline := e.drainLane(ctx, cli, lane)
			ls.mu.Lock()
			delete(ls.busy, key)
			ls.mu.Unlock()
			<-ls.slots
			if progress && !offline {
				signal(ls.done)
			}
		})
	}
	return started
}

// drainLane sends the items of one chat in order, without waiting for a commit between two
// sends. The claim of the next item (state sending) is handed to the store's writer before the
// current item is sent, so it commits while the send is under way; each outcome is handed over
// right after its send and commits (group commit, with the next claim) while the next item goes
// out. A resend after a crash is harmless: the WhatsApp id is fixed at enqueue time, so the
// recipient shows the message once, and the journal and the webhook take it once. All outcomes
// are known committed before the lane ends. It reports whether any item finished and whether the
// connection went away.
func (e *Engine) drainLane(ctx context.Context, cli *whatsmeow.Client, lane []store.Item) (progress, offline bool) {
	recs := &outcomes{e: e, ctx: ctx}
	defer recs.settle(true)
	claim := e.claim(ctx, lane[0])
	for i, it := range lane {
		if ctx.Err() != nil {
			return progress, true // the item stays "sending": the next start puts it back in the queue
		}
		// A claim the store could not write (a database restart) is written again, like an outcome;
		// the same claim again, which counts as claimed if the first did commit after all.
		if err := e.settle(ctx, it, claim); err != nil {
			if ctx.Err() != nil {
				return progress, true
			}
			// Cleared meanwhile: its chat's later items are left to the next pass, which lists
			// them only once nothing earlier of the chat is in flight.
			e.log.Warn("queue item vanished before sending", "queueNumber", it.QueueNumber, "err", err)
			return progress, false
		}
		paced := !queue.IsAction(it.Kind) // group actions are not messages: no pace, no daily count
		if ok, why := e.paceIf(ctx, paced); !ok {
			// Held by the daily limit (or stopping): back to the queue, the attempt not counted.
			if err := e.opts.Store.Postpone(context.WithoutCancel(ctx), it.QueueNumber, why); err != nil {
				e.log.Error("putting a held send back", "queueNumber", it.QueueNumber, "err", err)
			}
			return progress, false
		}
		var next *store.Pending
		if i+1 < len(lane) {
			next = e.claim(ctx, lane[i+1])
		}
		out := e.attempt(ctx, cli, it)
		if out.err != nil && paced {
			e.pacer.release() // only sends that went out count against the daily limit
		}
		if out.offline || !out.final {
			// The connection went (the drainer is woken when it is back), or the item waits for
			// its retry and its chat with it: the next item was not attempted.
			if next != nil {
				e.unclaim(ctx, lane[i+1], next)
			}
			e.record(ctx, it, out)
			return progress, out.offline
		}
		recs.add(it, out)
		claim, progress = next, true
	}
	return progress, false
}

// claim submits the claim of an item (state sending) without waiting for its commit.
func (e *Engine) claim(ctx context.Context, it store.Item) *store.Pending {
	return e.opts.Store.MarkSendingLater(ctx, it.QueueNumber)
}

// unclaim puts an item claimed ahead of its turn, and not attempted, back to the queue.
func (e *Engine) unclaim(ctx context.Context, it store.Item, claim *store.Pending) {
	if claim.Wait() != nil {
		return // not claimed (cleared meanwhile, or the claim was not written)
	}
	// Written again until it commits (a database restart): an item left "sending" would hold
	// its chat until the next start. When the engine stops first, that start puts it back.
	_ = e.settle(ctx, it, e.opts.Store.UnclaimLater(context.WithoutCancel(ctx), it.QueueNumber))
}

// maxOutcomesInFlight caps how many of a lane's outcomes may wait for their commit.
const maxOutcomesInFlight = 32

// outcomes are a lane's outcome writes handed to the store whose commit is not known yet, oldest
// first.
type outcomes struct {
	e    *Engine
	ctx  context.Context
	list []pendingOutcome
}

// pendingOutcome is one outcome write in flight.
type pendingOutcome struct {
	it store.Item
	p  *store.Pending
}

// add hands the outcome of an attempt to the store without waiting for its commit.
func (o *outcomes) add(it store.Item, out outcome) {
	o.list = append(o.list, pendingOutcome{it: it, p: o.e.recording(o.ctx, it, out)})
	o.settle(false)
}

// settle takes in the outcomes whose commit is known, in order (a failed write is submitted again
// until it commits, see settle), and waits for the oldest while too many are in flight; with all
// it waits for every one.
func (o *outcomes) settle(all bool) {
	for len(o.list) > 0 {
		first := o.list[0]
		if !all && len(o.list) <= maxOutcomesInFlight && !first.p.Done() {
			return
		}
		_ = o.e.settle(o.ctx, first.it, first.p)
		o.list[0] = pendingOutcome{}
		o.list = o.list[1:]
	}
}

// outcome is the result of one attempt to send a queued item.
type outcome struct {
	result  string        // e.g. a new group's chat id
	msg     *chat.Message // the journal entry of what was sent
	err     error
	final   bool // sent, or failed for good; false: retry later
	offline bool // the attempt was cut short by the connection: it does not count
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
	out := outcome{result: result, msg: msg, err: err}
	if err != nil {
		e.sendTimedOut(ctx, cli, err) // liveness.go: an unanswered send makes the engine ping
	}
	switch {
	case err == nil || permanent(err):
		out.final = true
	case ctx.Err() != nil || disconnected(err) || !cli.IsConnected():
		out.offline = true
	default:
		out.final = it.Attempts+1 >= maxAttempts
	}
	return out
}

// record stores an attempt's outcome: sent, failed for good, or back to the queue.
func (e *Engine) record(ctx context.Context, it store.Item, out outcome) {
	_ = e.settle(ctx, it, e.recording(ctx, it, out)) // an item gone or an engine stopping needs nothing more
}

// settle waits for a queue item's state write (its claim or its outcome) submitted as p. The
// write must reach the store: until an outcome does, the item stays "sending" and its chat waits
// behind it; until a claim does, nothing of the chat goes. A full disk or a database restart
// fails the write for a while, so it is submitted again until it commits (nil), the item is gone
// (the queue was cleared meanwhile: store.ErrNotFound) or the engine stops (ctx's error; an
// outcome's item then stays "sending" and the next start puts it back in the queue, to be sent
// again with the same id). Each write is submitted again as it was (store.Pending.Again): one whose
// commit did happen but was not acknowledged is recognised by the store as done.
func (e *Engine) settle(ctx context.Context, it store.Item, p *store.Pending) error {
	for wait := recordRetryMin; ; wait = min(2*wait, recordRetryMax) {
		err := p.Wait()
		if err == nil || errors.Is(err, store.ErrNotFound) {
			return err
		}
		e.log.Error("writing a queue item's state failed; trying again", "queueNumber", it.QueueNumber, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		p = p.Again(context.WithoutCancel(ctx))
	}
}

// Backoff of record's retries.
const (
	recordRetryMin = 100 * time.Millisecond
	recordRetryMax = 5 * time.Second
)

// recording logs and counts an outcome once and submits the store write that records it without
// waiting (the store's own context: an accepted outcome is recorded even when the engine is
// stopping, so that it need not be sent again).
func (e *Engine) recording(ctx context.Context, it store.Item, out outcome) *store.Pending {
	st, wctx := e.opts.Store, context.WithoutCancel(ctx)
	switch {
	case out.err == nil:
		e.sendsOK.Add(1)
		return st.MarkSentLater(wctx, it.QueueNumber, out.result, out.msg)
	case out.final:
		e.log.Info("send failed for good", "queueNumber", it.QueueNumber, "chatId", it.ChatID, "err", out.err)
		e.sendsFailed.Add(1)
		return st.MarkFailedLater(wctx, it.QueueNumber, out.err.Error())
	case out.offline:
		e.log.Info("send interrupted by the connection; it goes again once connected", "queueNumber", it.QueueNumber,
			"err", out.err)
		return st.PostponeLater(wctx, it.QueueNumber, out.err.Error())
	default:
		e.log.Warn("send failed, will retry", "queueNumber", it.QueueNumber, "chatId", it.ChatID,
			"attempts", it.Attempts+1, "err", out.err)
		return st.RetryLater(wctx, it.QueueNumber, out.err.Error())
	}
}

// SendStats returns how many queued sends reached WhatsApp and how many failed for good.
func (e *Engine) SendStats() (sent, failed uint64) { return e.sendsOK.Load(), e.sendsFailed.Load() }

// errPermanent marks failures that retrying cannot fix.
var errPermanent = errors.New("permanent")

// permanentErrors are whatsmeow's answers that retrying cannot change: the group does not exist
// (404) or the account is not in it (403), the request is refused as malformed or not allowed,
// the server refused the message itself, or the destination cannot exist.
var permanentErrors = []error{
	errPermanent, whatsmeow.ErrServerReturnedError,
	whatsmeow.ErrGroupNotFound, whatsmeow.ErrNotInGroup,
	whatsmeow.ErrIQBadRequest, whatsmeow.ErrIQForbidden, whatsmeow.ErrIQNotFound, whatsmeow.ErrIQNotAllowed,
	whatsmeow.ErrIQNotAcceptable, whatsmeow.ErrIQGone,
	whatsmeow.ErrUnknownServer, whatsmeow.ErrRecipientADJID, whatsmeow.ErrBroadcastListUnsupported,
	whatsmeow.ErrInvalidInlineBotID,
}

func permanent(err error) bool {
	for _, p := range permanentErrors {
		if errors.Is(err, p) {
			return true
		}
	}
	// whatsmeow reports these with fmt.Errorf and no sentinel.
	msg := err.Error()
	return strings.Contains(msg, "no LID found") || strings.Contains(msg, "not on WhatsApp")
}

// disconnected reports errors of a connection that went away mid-request.
func disconnected(err error) bool {
	var de *whatsmeow.DisconnectedError
	return errors.As(err, &de) || errors.Is(err, whatsmeow.ErrNotConnected) || errors.Is(err, whatsmeow.ErrNotLoggedIn)
}

// deliver sends an item to WhatsApp and returns its result (a new group's id) and its journal entry.
func (e *Engine) deliver(ctx context.Context, cli *whatsmeow.Client, it store.Item) (string, *chat.Message, error) {
	p, err := it.Payload()
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", errPermanent, err)
	}
	switch p := p.(type) {
	case queue.Text:
		return e.deliverText(ctx, cli, it, p)
	case queue.File:
		return e.deliverFile(ctx, cli, it, p)
	case queue.Group:
		return e.deliverGroup(ctx, cli, it, p)
	case queue.Location:
		return e.deliverLocation(ctx, cli, it, p)
	case queue.VCard:
		return e.deliverVCard(ctx, cli, it, p)
	case queue.Link:
		return e.deliverLink(ctx, cli, it, p)
	case queue.Poll:
		return e.deliverPoll(ctx, cli, it, p)
	case queue.Reaction:
		return e.deliverReaction(ctx, cli, it, p)
	case queue.Forward:
		return e.deliverForward(ctx, cli, it, p)
	case queue.Edit:
		return e.deliverEdit(ctx, cli, it, p)
	case queue.Delete:
		return e.deliverDelete(ctx, cli, it, p)
	case queue.GroupParticipants, queue.GroupJoin, queue.GroupLeave, queue.GroupSubject, queue.GroupDescription:
		return e.deliverAction(ctx, cli, it, p)
	}
	return "", nil, fmt.Errorf("%w: queue item kind %q cannot be sent", errPermanent, it.Kind)
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
	guard, _ := cli.Store.Sessions.(*sessionguard.Guard)
	var faults uint64
	if guard != nil {
		faults = guard.StoreFaults()
	}
	if _, err = cli.SendMessage(ctx, jid, msg, whatsmeow.SendRequestExtra{ID: waID}); err != nil {
		return err
	}
	if guard != nil && guard.StoreFaults() != faults {
		// whatsmeow skipped the devices it could not encrypt for and sent to the rest: send again.
		return errors.New("a store error during encryption: the message may have missed a device; sending it again")
	}
	return nil
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

func (e *Engine) deliverFile(ctx context.Context, cli *whatsmeow.Client, it store.Item, meta queue.File) (string, *chat.Message, error) {
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
	e.finishMedia(ctx, it, meta, data, msg, entry)
	return "", entry, e.send(ctx, cli, it.ChatID, it.WAID, msg)
}

// uploadMessage uploads a file and builds the message that carries it.
func uploadMessage(ctx context.Context, cli *whatsmeow.Client, meta queue.File, data []byte) (*waE2E.Message, error) {
	kind := map[string]whatsmeow.MediaType{chat.TypeImage: whatsmeow.MediaImage, chat.TypeVideo: whatsmeow.MediaVideo,
		chat.TypeAudio: whatsmeow.MediaAudio, chat.TypePTT: whatsmeow.MediaAudio}[meta.MediaType]
	if meta.MediaType == chat.TypeSticker {
		kind = whatsmeow.MediaImage
	}
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
	case chat.TypeSticker:
		return stickerMessage(up, mime), nil
	}
	return &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey,
		FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: &up.FileLength, Mimetype: mime,
		FileName: proto.String(meta.FileName), Caption: caption}}, nil
}

// deliverGroup creates a group and sends its first message, if any. The new group is recorded on
// the item before anything else can fail, so a retry (or a resend after a crash) never creates it
// twice.
func (e *Engine) deliverGroup(ctx context.Context, cli *whatsmeow.Client, it store.Item, meta queue.Group) (string, *chat.Message, error) {
	gid := it.Result
	if gid == "" && !it.LastTry.IsZero() {
		// An earlier attempt may have created the group and died before recording it (kill -9,
		// or an answer lost with the connection): adopt that group instead of making a second.
		gid = e.findCreatedGroup(ctx, cli, it, meta)
	}
	if gid == "" {
		created, err := e.createGroup(ctx, cli, meta)
		if err != nil {
			return "", nil, err
		}
		gid = created
		if err := e.opts.Store.RecordResult(context.WithoutCancel(ctx), it.QueueNumber, gid); err != nil {
			return "", nil, fmt.Errorf("%w: group %s created but not recorded: %v", errPermanent, gid, err)
		}
	}
	group, _ := chat.ParseChatID(gid)
	if meta.MessageText == "" {
		return gid, nil, nil
	}
	entry := e.entry(it, chat.TypeChat, meta.MessageText)
	entry.ChatID = gid
	entry.ID = chat.MessageID{FromMe: true, Chat: group, WAID: it.WAID}.String()
	if err := e.send(ctx, cli, gid, it.WAID, &waE2E.Message{Conversation: proto.String(meta.MessageText)}); err != nil {
		// The group exists: never create it twice. Its first message goes back to the queue alone.
		e.log.Warn("group created but its first message failed; queueing it again", "group", gid, "err", err)
		if _, qerr := e.opts.Store.Enqueue(ctx, store.NewItem{Payload: queue.Text{}, Chat: group,
			Body: meta.MessageText}); qerr != nil {
			return "", nil, fmt.Errorf("%w: group %s created but its first message was lost: %v", errPermanent, gid, qerr)
		}
		return gid, nil, nil
	}
	return gid, entry, nil
}

// createdGroupSlack is how much earlier than its queue item a group may have been created and
// still be the item's (clock skew between the instance and WhatsApp).
const createdGroupSlack = time.Minute

// findCreatedGroup returns the chat id of a group this account owns with the item's name, created
// since the item was queued, or "" when there is none (or the groups cannot be listed: then the
// attempt creates the group, as it would have without this check).
func (e *Engine) findCreatedGroup(ctx context.Context, cli *whatsmeow.Client, it store.Item, meta queue.Group) string {
	groups, err := cli.GetJoinedGroups(ctx)
	if err != nil {
		e.log.Warn("listing joined groups before creating one again", "queueNumber", it.QueueNumber, "err", err)
		return ""
	}
	own, lid := cli.Store.GetJID().User, cli.Store.GetLID().User
	since := it.CreatedAt.Add(-createdGroupSlack)
	var found *types.GroupInfo
	for _, g := range groups {
		mine := (g.OwnerPN.User != "" && g.OwnerPN.User == own) || (lid != "" && g.OwnerJID.User == lid) ||
			g.OwnerJID.User == own
		if mine && g.Name == meta.GroupName && !g.GroupCreated.Before(since) &&
			(found == nil || g.GroupCreated.Before(found.GroupCreated)) {
			found = g
		}
	}
	if found == nil {
		return ""
	}
	gid := chat.ID{Kind: chat.Group, User: found.JID.User}.String()
	e.log.Info("group of an interrupted creation found; not creating it again", "queueNumber", it.QueueNumber, "group", gid)
	if err := e.opts.Store.RecordResult(context.WithoutCancel(ctx), it.QueueNumber, gid); err != nil {
		e.log.Warn("recording the found group", "queueNumber", it.QueueNumber, "err", err)
	}
	return gid
}

// createGroup creates the group of meta and returns its chat id.
func (e *Engine) createGroup(ctx context.Context, cli *whatsmeow.Client, meta queue.Group) (string, error) {
	req := whatsmeow.ReqCreateGroup{Name: meta.GroupName}
	for _, p := range meta.Participants {
		id, err := chat.ParseChatID(p)
		if err != nil {
			return "", fmt.Errorf("%w: %v", errPermanent, err)
		}
		jid, _ := types.ParseJID(id.JID())
		if id.Kind == chat.Person {
			if err := e.checkOnWhatsApp(ctx, cli, jid); err != nil {
				return "", err
			}
		}
		req.Participants = append(req.Participants, jid)
	}
	info, err := cli.CreateGroup(ctx, req)
	if err != nil {
		return "", fmt.Errorf("creating group: %w", err)
	}
	return chat.ID{Kind: chat.Group, User: info.JID.User}.String(), nil
}
