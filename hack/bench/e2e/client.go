package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	waLog "go.mau.fi/whatsmeow/util/log"
	"google.golang.org/protobuf/proto"

	"github.com/messenger-operator/messenger-operator/sandbox/sandboxclient"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// baseline is a plain whatsmeow client: its own SQLite file with the pragmas of the instance's
// store (WAL, synchronous=FULL), or its own PostgreSQL database, no logging, nothing but
// SendMessage.
type baseline struct {
	cli       *whatsmeow.Client
	db        *sqlstore.Container
	paired    chan struct{}
	connected chan struct{}
}

func newBaseline(ctx context.Context, sandboxURL, dialect, dsn string) (*baseline, error) {
	driver := map[string]string{"sqlite": "sqlite", "postgres": "pgx"}[dialect]
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("baseline store: %w", err)
	}
	db := sqlstore.NewWithDB(raw, dialect, waLog.Noop)
	if err := db.Upgrade(ctx); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("baseline store: %w", err)
	}
	dev, err := db.GetFirstDevice(ctx)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("baseline device: %w", err)
	}
	b := &baseline{db: db, paired: make(chan struct{}, 1), connected: make(chan struct{}, 1)}
	b.cli = whatsmeow.NewClient(dev, waLog.Noop)
	if err := sandboxclient.Configure(ctx, b.cli, sandboxURL); err != nil {
		_ = db.Close()
		return nil, err
	}
	b.cli.AddEventHandler(func(evt any) {
		switch evt.(type) {
		case *events.PairSuccess:
			notify(b.paired)
		case *events.Connected:
			notify(b.connected)
		}
	})
	return b, nil
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// pair shows a QR code, has the phone scan it and waits until the client is connected.
func (b *baseline) pair(ctx context.Context, api adminAPI, phone string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	qr, err := b.cli.GetQRChannel(context.Background()) // outlives ctx: cancelling it would disconnect
	if err != nil {
		return fmt.Errorf("qr channel: %w", err)
	}
	if err := b.cli.Connect(); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	var code string
	select {
	case item := <-qr:
		if item.Event != "code" {
			return fmt.Errorf("first QR item is %q", item.Event)
		}
		code = item.Code
	case <-ctx.Done():
		return errors.New("no QR code")
	}
	go func() { // keep draining while whatsmeow reports the outcome
		for range qr {
		}
	}()
	if err := api.scan(ctx, phone, code); err != nil {
		return err
	}
	for _, ch := range []chan struct{}{b.paired, b.connected} {
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the baseline client to connect: %w", ctx.Err())
		}
	}
	return nil
}

// send sends n texts "<prefix><i>" to phone, one after the other.
func (b *baseline) send(ctx context.Context, phone, prefix string, n int) error {
	to := types.NewJID(phone, types.DefaultUserServer)
	for i := range n {
		msg := &waE2E.Message{Conversation: proto.String(fmt.Sprintf("%s%d", prefix, i))}
		if _, err := b.cli.SendMessage(ctx, to, msg); err != nil {
			return fmt.Errorf("baseline send %d: %w", i, err)
		}
	}
	return nil
}

// sendOne sends one text to phone.
func (b *baseline) sendOne(ctx context.Context, phone, body string) error {
	_, err := b.cli.SendMessage(ctx, types.NewJID(phone, types.DefaultUserServer), &waE2E.Message{Conversation: proto.String(body)})
	return err
}

func (b *baseline) close() {
	b.cli.Disconnect()
	_ = b.db.Close()
}
