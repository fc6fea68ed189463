package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/internal/testpg"
)

func openAdmin(pg *testpg.Server) (*sql.DB, error) {
	db, err := sql.Open("pgx", pg.DSN("postgres"))
	if err != nil {
		return nil, fmt.Errorf("opening admin connection: %w", err)
	}
	return db, nil
}

// rawInsertLoop is the baseline: one writer inserting one queue-sized row per transaction into the
// same kind of database with the same durability settings. It returns inserts per second.
func rawInsertLoop(opts store.Options, n int) float64 {
	st, err := store.Open(context.Background(), opts)
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	db := st.DB()
	if _, err := db.Exec(`CREATE TABLE bench_raw (id BIGINT PRIMARY KEY, chat_id TEXT NOT NULL, body TEXT NOT NULL,
		metadata TEXT NOT NULL, created_at BIGINT NOT NULL)`); err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	for i := range n {
		tx, err := db.Begin()
		if err != nil {
			log.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO bench_raw VALUES ($1, $2, $3, $4, $5)`, i, "17472822486@c.us",
			fmt.Sprint("bench ", i), "{}", time.Now().UnixMilli()); err != nil {
			log.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			log.Fatal(err)
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

// fillJournal bulk-loads n chat messages into the journal (multi-row inserts, 1,000 per statement).
func fillJournal(st *store.Store, n int) error {
	db := st.DB()
	const per = 1000
	for from := 1; from <= n; from += per {
		var sb strings.Builder
		sb.WriteString(`INSERT INTO mo_messages (message_number, id, wa_id, chat_id, from_me, type, time, data) VALUES `)
		args := make([]any, 0, per*8)
		for i := from; i < from+per && i <= n; i++ {
			waID := fmt.Sprintf("3EB0%018d", i)
			m := chat.Message{ID: "false_17472822486@c.us_" + waID, Body: fmt.Sprint("message ", i), Type: chat.TypeChat,
				SenderName: "Bench", Author: "17472822486@c.us", Time: 1_700_000_000 + int64(i), ChatID: "17472822486@c.us",
				MessageNumber: int64(i)}
			data, _ := json.Marshal(m)
			if i > from {
				sb.WriteString(",")
			}
			if st.Dialect() == store.SQLite {
				sb.WriteString("(?,?,?,?,?,?,?,?)")
			} else {
				k := len(args)
				fmt.Fprintf(&sb, "($%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d)", k+1, k+2, k+3, k+4, k+5, k+6, k+7, k+8)
			}
			args = append(args, i, m.ID, waID, m.ChatID, false, m.Type, m.Time, string(data))
		}
		if _, err := db.Exec(sb.String(), args...); err != nil {
			return fmt.Errorf("filling journal: %w", err)
		}
	}
	_, err := db.Exec(`UPDATE mo_counters SET value = $1 WHERE name = 'message'`, n)
	if st.Dialect() == store.Postgres {
		_, _ = db.Exec(`ANALYZE mo_messages`)
	}
	return err
}
