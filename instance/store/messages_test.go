package store

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// appendAt journals a message of chatID sent at t and returns its number.
func appendAt(t *testing.T, s *Store, chatID string, waID int, at int64) int64 {
	t.Helper()
	m := chat.Message{ID: fmt.Sprintf("false_%s_3EB0%018d", chatID, waID), Type: chat.TypeChat,
		Body: fmt.Sprint(waID), Time: at, ChatID: chatID}
	out, added, err := s.AppendMessage(context.Background(), m)
	if err != nil || !added {
		t.Fatalf("AppendMessage: %v %v", added, err)
	}
	return out.MessageNumber
}

func numbers(msgs []chat.Message) []int64 {
	out := []int64{}
	for _, m := range msgs {
		out = append(out, m.MessageNumber)
	}
	return out
}

// Filters by chat and time combine with paging by message number and with last.
func TestFindMessagesFilters(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		ctx := context.Background()
		const alice, group = "17472822486@c.us", "120363000000000001@g.us"
		// 1..12: alternating chats, times 1000, 1010, …, 1110.
		var aliceNums, groupNums []int64
		for i := range 12 {
			chatID := alice
			if i%2 == 1 {
				chatID = group
			}
			n := appendAt(t, s, chatID, i, 1000+int64(i)*10)
			if chatID == alice {
				aliceNums = append(aliceNums, n)
			} else {
				groupNums = append(groupNums, n)
			}
		}
		find := func(q MessageQuery) []int64 {
			t.Helper()
			msgs, err := s.FindMessages(ctx, q)
			if err != nil {
				t.Fatalf("FindMessages(%+v): %v", q, err)
			}
			return numbers(msgs)
		}
		eq := func(what string, got, want []int64) {
			t.Helper()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s = %v, want %v", what, got, want)
			}
		}
		eq("chat", find(MessageQuery{ChatID: alice, Limit: 100}), aliceNums)
		eq("group", find(MessageQuery{ChatID: group, Limit: 100}), groupNums)
		eq("unknown chat", find(MessageQuery{ChatID: "19999999999@c.us", Limit: 100}), []int64{})
		// Time bounds are inclusive: 1020..1060 are messages 3..7.
		eq("time window", find(MessageQuery{MinTime: 1020, MaxTime: 1060, Limit: 100}), []int64{3, 4, 5, 6, 7})
		eq("min_time", find(MessageQuery{MinTime: 1100, Limit: 100}), []int64{11, 12})
		eq("max_time", find(MessageQuery{MaxTime: 1010, Limit: 100}), []int64{1, 2})
		eq("chat and time", find(MessageQuery{ChatID: alice, MinTime: 1020, MaxTime: 1060, Limit: 100}), []int64{3, 5, 7})

		// Paging a chat two at a time by the last number seen returns each message once.
		var paged []int64
		after := int64(0)
		for {
			page := find(MessageQuery{ChatID: group, After: after, Limit: 2})
			if len(page) == 0 {
				break
			}
			if len(page) > 2 {
				t.Fatalf("page of %d with limit 2", len(page))
			}
			paged = append(paged, page...)
			after = page[len(page)-1]
		}
		eq("paged chat", paged, groupNums)
		eq("after and time", find(MessageQuery{After: 6, MaxTime: 1090, Limit: 100}), []int64{7, 8, 9, 10})

		// last: the newest matching, oldest first.
		eq("last of chat", find(MessageQuery{ChatID: alice, Limit: 3, Last: true}), aliceNums[len(aliceNums)-3:])
		eq("last in window", find(MessageQuery{MaxTime: 1050, Limit: 2, Last: true}), []int64{5, 6})
		eq("limit", find(MessageQuery{Limit: 4}), []int64{1, 2, 3, 4})

		if _, err := s.FindMessages(ctx, MessageQuery{}); err == nil {
			t.Error("a zero limit was accepted")
		}
	})
}

// The chat filter is served by the (chat_id, message_number) index, the time filter by the time
// index, on both databases.
func TestFindMessagesUsesIndexes(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		for i := range 50 {
			appendAt(t, s, fmt.Sprintf("1747282%04d@c.us", i%5), i, 1000+int64(i))
		}
		for _, c := range []struct {
			q     MessageQuery
			index string
		}{
			{MessageQuery{ChatID: "17472820001@c.us", After: 3, Limit: 10}, "mo_messages_chat"},
			{MessageQuery{MinTime: 1040, MaxTime: 1045, Limit: 10}, "mo_messages_time"},
		} {
			query, args := c.q.sql()
			plan := explain(t, s, query, args)
			if !strings.Contains(plan, c.index) {
				t.Errorf("plan of %q does not use %s:\n%s", query, c.index, plan)
			}
		}
	})
}

// explain returns the query plan of query. PostgreSQL is told to avoid sequential scans so that
// the plan shows whether an index can serve the query (the tables here are small).
func explain(t *testing.T, s *Store, query string, args []any) string {
	t.Helper()
	ctx := context.Background()
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	prefix := "EXPLAIN QUERY PLAN "
	if s.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
		prefix = "EXPLAIN "
	}
	rows, err := tx.QueryContext(ctx, prefix+query, args...)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer func() { _ = rows.Close() }()
	cols, _ := rows.Columns()
	var plan strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(fmt.Sprint(vals...) + "\n")
	}
	return plan.String()
}
