package instance_test

import (
	"context"
	"strings"
	"testing"

	"github.com/messenger-operator/messenger-operator/internal/testpg"
)

// kill -9 in the middle of draining a burst with the store on PostgreSQL: after the restart every
// accepted send reaches the phone once (a send whose outcome had not committed is sent again with
// the same WhatsApp id, which the phone shows once).
func TestKill9DuringBurstPostgres(t *testing.T) {
	const total, prefix = 400, "pg kill"
	pg, err := testpg.Start()
	if err != nil {
		t.Fatalf("starting PostgreSQL: %v", err)
	}
	t.Cleanup(pg.Stop)
	sb, inst := startRig(t, "--database", pg.DSN("postgres"))
	ctx := context.Background()
	accepted, refused := burst(t, inst, prefix, total, func(int) {})
	if len(refused) > 0 || len(accepted) != total {
		t.Fatalf("%d of %d sends accepted; refused by status: %v", len(accepted), total, refused)
	}
	eventually(t, "the drain to be under way", func() bool {
		msgs, err := sb.Messages(ctx, "15550002222")
		n := 0
		for _, m := range msgs {
			if strings.HasPrefix(m.Body, prefix) {
				n++
			}
		}
		return err == nil && n >= 50
	})
	inst.Kill9()
	if err := inst.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := inst.WaitAuthenticated(ctx); err != nil {
		t.Fatal(err)
	}
	checkPhoneOnce(t, sb, prefix, accepted)
}
