package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("store closed")

// errCommit marks a writer transaction whose commit failed (and which may have committed).
var errCommit = errors.New("commit")

// wtx is the transaction a write request runs in, with callbacks to run after the commit.
type wtx struct {
	*sql.Tx
	s     *Store
	after []func()
}

// execCached runs a hot statement through the store's prepared statement cache.
func (t *wtx) execCached(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := t.s.prepared(ctx, t.Tx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// queryRowCached runs a hot single-row query through the prepared statement cache.
func (t *wtx) queryRowCached(ctx context.Context, query string, args ...any) (*sql.Row, error) {
	st, err := t.s.prepared(ctx, t.Tx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryRowContext(ctx, args...), nil
}

// prepared returns query prepared for tx, preparing it on the database once: database/sql then
// reuses the statement on every connection it was prepared on (statement preparation is a large
// part of the writer's CPU with SQLite).
func (s *Store) prepared(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	st, ok := s.stmts[query]
	if !ok {
		var err error
		if st, err = s.db.PrepareContext(ctx, query); err != nil {
			s.stmtMu.Unlock()
			return nil, fmt.Errorf("preparing statement: %w", err)
		}
		s.stmts[query] = st
	}
	s.stmtMu.Unlock()
	return tx.StmtContext(ctx, st), nil
}

// onCommit schedules f to run once the transaction has committed.
func (t *wtx) onCommit(f func()) { t.after = append(t.after, f) }

type writeReq struct {
	fn func(ctx context.Context, tx *wtx) error
	// enqueue, instead of fn, asks for this queue item to be inserted; all enqueues of a batch share
	// one counter update and multi-row inserts.
	enqueue *Item
	done    chan error
	after   []func()
}

// write runs fn in the writer's transaction and waits for the commit. fn may be run more than once
// (after a failed shared transaction), so it must only touch the database and its own results.
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, tx *wtx) error) error {
	return s.submit(ctx, &writeReq{fn: fn, done: make(chan error, 1)})
}

// submit hands a request to the writer and waits for its outcome.
func (s *Store) submit(ctx context.Context, req *writeReq) error {
	return s.submitLater(ctx, req).Wait()
}

// writeLater is write without waiting: the request is handed to the writer (in the order of the
// calls, so one goroutine's writes commit in the order it made them) and the returned Pending
// tells its outcome.
func (s *Store) writeLater(ctx context.Context, fn func(ctx context.Context, tx *wtx) error) *Pending {
	return s.submitLater(ctx, &writeReq{fn: fn, done: make(chan error, 1)})
}

// submitLater hands a request to the writer; it blocks only while the writer's queue is full.
func (s *Store) submitLater(ctx context.Context, req *writeReq) *Pending {
	select {
	case s.writes <- req:
		return &Pending{s: s, req: req}
	case <-s.stop:
		return &Pending{s: s, req: req, err: ErrClosed, waited: true}
	case <-ctx.Done():
		return &Pending{s: s, req: req, err: fmt.Errorf("waiting for the store writer: %w", ctx.Err()), waited: true}
	}
}

// Again submits the same write once more, typically after Wait reported an error. A write whose
// commit failed may still have committed (the acknowledgement of a commit can be lost with the
// connection), so each write of the store recognises a resubmission of itself: an outcome finds
// its item already finished (ErrNotFound), a claim finds its own token (MarkSendingLater).
func (p *Pending) Again(ctx context.Context) *Pending {
	next := p.s.submitLater(ctx, &writeReq{fn: p.req.fn, enqueue: p.req.enqueue, done: make(chan error, 1)})
	if p.wrap != nil {
		next = next.wrapped(p.wrap)
	}
	return next
}

// Pending is a write handed to the store's writer whose commit has not been waited for. It is
// not safe for concurrent use.
type Pending struct {
	s      *Store
	req    *writeReq
	err    error
	waited bool
	wrap   func(error) error // the caller's error context, applied once
}

// Wait blocks until the write committed or failed and returns its error. Once submitted a write
// is committed or refused as a whole, so a nil error means committed and nothing is ever
// reported failed that committed.
func (p *Pending) Wait() error {
	if !p.waited {
		p.waited = true
		p.err = <-p.req.done
		if p.err == nil {
			for _, f := range p.req.after {
				f()
			}
		}
		if p.err != nil && p.wrap != nil {
			p.err = p.wrap(p.err)
		}
	}
	return p.err
}

// Done reports, without blocking, whether the write's outcome is known (Wait then returns at once).
func (p *Pending) Done() bool {
	if p.waited {
		return true
	}
	select {
	case err := <-p.req.done:
		p.req.done <- err // for Wait
		return true
	default:
		return false
	}
}

// wrapped sets how the error is reported and returns p.
func (p *Pending) wrapped(f func(error) error) *Pending {
	if p.waited {
		if p.err != nil {
			p.err = f(p.err)
		}
		return p
	}
	p.wrap = f
	return p
}

// writer runs write requests, grouping those that wait into one transaction.
func (s *Store) writer() {
	defer close(s.writerEnd)
	for {
		var first *writeReq
		select {
		case first = <-s.writes:
		case <-s.stop:
			s.drainWrites()
			return
		}
		batch := []*writeReq{first}
	fill:
		for len(batch) < s.maxBatch {
			select {
			case r := <-s.writes:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.runBatch(batch)
	}
}

// drainWrites answers requests still queued at Close.
func (s *Store) drainWrites() {
	for {
		select {
		case r := <-s.writes:
			s.runBatch([]*writeReq{r})
		default:
			return
		}
	}
}

func (s *Store) runBatch(batch []*writeReq) {
	// The writer's transactions are not tied to any caller's context: a request that was accepted
	// is finished even if its caller went away.
	ctx := context.Background()
	err := markNoSpace(s.runTx(ctx, batch))
	if err == nil || len(batch) == 1 || errors.Is(err, errCommit) {
		// A failed commit is nobody's fault in particular, and it may have committed after all
		// (the acknowledgement lost with the connection): running each request again alone could
		// do twice what was done. Each caller learns the error and decides.
		for _, r := range batch {
			r.done <- err
		}
		return
	}
	// One request spoilt the shared transaction: run each alone so only it fails.
	for _, r := range batch {
		r.done <- markNoSpace(s.runTx(ctx, []*writeReq{r}))
	}
}

func (s *Store) runTx(ctx context.Context, batch []*writeReq) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := s.insertItems(ctx, tx, batch); err != nil {
		_ = tx.Rollback()
		return err
	}
	for _, r := range batch {
		if r.fn == nil {
			continue
		}
		t := &wtx{Tx: tx, s: s}
		if err := r.fn(ctx, t); err != nil {
			_ = tx.Rollback()
			return err
		}
		r.after = t.after
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%w: %w", errCommit, err)
	}
	s.commits.Add(1)
	s.batches.Add(int64(len(batch)))
	return nil
}

// rowsPerInsert caps the rows of one multi-row INSERT.
const rowsPerInsert = 64

// insertItems inserts the batch's queue items: one counter update, then multi-row INSERTs.
func (s *Store) insertItems(ctx context.Context, tx *sql.Tx, batch []*writeReq) error {
	var items []*Item
	for _, r := range batch {
		if r.enqueue != nil {
			items = append(items, r.enqueue)
		}
	}
	if len(items) == 0 {
		return nil
	}
	t := &wtx{Tx: tx, s: s}
	first, err := nextNumbers(ctx, t, "queue", int64(len(items)))
	if err != nil {
		return err
	}
	var size int64
	for i, it := range items {
		it.QueueNumber = first + int64(i)
		size += it.Size
	}
	if err := addQueued(ctx, t, int64(len(items)), size); err != nil {
		return err
	}
	for start := 0; start < len(items); start += rowsPerInsert {
		chunk := items[start:min(start+rowsPerInsert, len(items))]
		var sb strings.Builder
		sb.WriteString(`INSERT INTO mo_queue (queue_number, message_id, wa_id, chat_id, kind, body, metadata, state,
			created_at, size) VALUES `)
		args := make([]any, 0, len(chunk)*10)
		for i, it := range chunk {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(s.placeholders(len(args), 10))
			args = append(args, it.QueueNumber, it.MessageID, it.WAID, it.ChatID, it.Kind, it.Body, it.Metadata,
				StateQueued, it.CreatedAt.UnixMilli(), it.Size)
		}
		if _, err := t.execCached(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("inserting queue items: %w", err)
		}
	}
	return nil
}

// placeholders returns "(p1,…,pn)" numbered from offset+1: ? for SQLite (whose driver looks $n names
// up one by one), $n for PostgreSQL.
func (s *Store) placeholders(offset, n int) string {
	var sb strings.Builder
	sb.WriteByte('(')
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		if s.dialect == SQLite {
			sb.WriteByte('?')
		} else {
			sb.WriteString("$" + strconv.Itoa(offset+i+1))
		}
	}
	sb.WriteByte(')')
	return sb.String()
}

// nextNumbers reserves n consecutive numbers of the named counter and returns the first.
func nextNumbers(ctx context.Context, tx *wtx, name string, n int64) (int64, error) {
	var last int64
	row, err := tx.queryRowCached(ctx, `UPDATE mo_counters SET value = value + $1 WHERE name = $2 RETURNING value`,
		n, name)
	if err == nil {
		err = row.Scan(&last)
	}
	if err != nil {
		return 0, fmt.Errorf("advancing counter %s: %w", name, err)
	}
	return last - n + 1, nil
}
