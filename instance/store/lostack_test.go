package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/messenger-operator/messenger-operator/instance/queue"
)

// lostAckConnector opens the store's SQLite connections with one fault: while armed, the next
// transaction commits and then reports an error, as when the connection to a database server
// breaks after the server committed and before its answer arrived.
type lostAckConnector struct {
	driver.Connector
	armed *atomic.Bool
}

type lostAckConn struct {
	sqliteConn
	armed *atomic.Bool
}

type lostAckTx struct {
	driver.Tx
	armed *atomic.Bool
}

var errLostAck = errors.New("injected: the connection broke after the commit, before its acknowledgement")

func (c lostAckConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &lostAckConn{sqliteConn: conn.(sqliteConn), armed: c.armed}, nil
}

func (c *lostAckConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.sqliteConn.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return lostAckTx{Tx: tx, armed: c.armed}, nil
}

func (t lostAckTx) Commit() error {
	if err := t.Tx.Commit(); err != nil {
		return err
	}
	if t.armed.CompareAndSwap(true, false) {
		return errLostAck
	}
	return nil
}

var lostAckArmed atomic.Bool

// openLostAck opens a SQLite store whose connections lose one commit's acknowledgement each time
// the returned arm function is called.
func openLostAck(t *testing.T) (s *Store, arm func()) {
	t.Helper()
	base := sqliteConnector
	sqliteConnector = func(dsn string) (driver.Connector, error) {
		c, err := base(dsn)
		return lostAckConnector{Connector: c, armed: &lostAckArmed}, err
	}
	defer func() { sqliteConnector = base }()
	s = open(t, Options{DataDir: t.TempDir()})
	t.Cleanup(func() { lostAckArmed.Store(false) })
	return s, func() { lostAckArmed.Store(true) }
}

// A claim whose commit went through but was reported failed is submitted again by the drainer;
// the resubmission finds the item sending by that very claim and must count as claimed (it used
// to say the item vanished, and the item held its chat until the next start).
func TestClaimWhoseCommitAckWasLostCountsAsClaimed(t *testing.T) {
	s, arm := openLostAck(t)
	ctx := context.Background()
	it, err := s.Enqueue(ctx, NewItem{Payload: queue.Text{}, Chat: person(t, "17472822486"), Body: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	arm()
	claim := s.MarkSendingLater(ctx, it.QueueNumber)
	if err := claim.Wait(); !errors.Is(err, errLostAck) {
		t.Fatalf("claim: %v, want the injected lost acknowledgement", err)
	}
	if err := claim.Again(ctx).Wait(); err != nil {
		t.Fatalf("the claim submitted again: %v, want claimed", err)
	}
	got, err := s.QueueItem(ctx, it.QueueNumber)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != StateSending || got.Attempts != 1 {
		t.Fatalf("item is %s after %d attempts, want sending after 1", got.State, got.Attempts)
	}
	// Another claim of the item (not a resubmission of the first) still finds it taken.
	if err := s.MarkSending(ctx, it.QueueNumber); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a second claim: %v, want ErrNotFound", err)
	}
	if err := s.MarkSent(ctx, it.QueueNumber, "", nil); err != nil {
		t.Fatal(err)
	}
}

// An outcome whose acknowledgement was lost is not written twice: its resubmission finds the item
// finished.
func TestOutcomeWhoseCommitAckWasLostIsRecordedOnce(t *testing.T) {
	s, arm := openLostAck(t)
	ctx := context.Background()
	it, err := s.Enqueue(ctx, NewItem{Payload: queue.Text{}, Chat: person(t, "17472822486"), Body: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSending(ctx, it.QueueNumber); err != nil {
		t.Fatal(err)
	}
	arm()
	sent := s.MarkSentLater(ctx, it.QueueNumber, "", nil)
	if err := sent.Wait(); !errors.Is(err, errLostAck) {
		t.Fatalf("outcome: %v, want the injected lost acknowledgement", err)
	}
	if err := sent.Again(ctx).Wait(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the outcome submitted again: %v, want ErrNotFound (already sent)", err)
	}
	if got, err := s.QueueItem(ctx, it.QueueNumber); err != nil || got.State != StateSent {
		t.Fatalf("item %+v, %v: want sent", got, err)
	}
}
