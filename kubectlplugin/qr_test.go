package kubectlplugin_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	qrcode "github.com/skip2/go-qrcode"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/instance/qr"
	"github.com/messenger-operator/messenger-operator/kubectlplugin"
)

// pairingTexts are QR payloads of the shape WhatsApp uses (ref,noise key,identity key,adv secret)
// and of other lengths, so that several QR versions are covered.
var pairingTexts = []string{
	"2@Zm9vYmFyYmF6cXV4,c2Vzc2lvbi1ub2lzZS1rZXktMzItYnl0ZXMtbG9uZw==,aWRlbnRpdHkta2V5LTMyLWJ5dGVzLWxvbmctLS0tLQ==,YWR2LXNlY3JldC0zMi1ieXRlcy1sb25nLS0tLS0tLQ==",
	"hello",
	strings.Repeat("x", 300),
}

// wantModules is the library's own module matrix of text, without its 4-module quiet zone.
func wantModules(t *testing.T, text string) [][]bool {
	t.Helper()
	code, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	bm := code.Bitmap()
	n := len(bm) - 8
	out := make([][]bool, n)
	for r := range out {
		out[r] = bm[r+4][4 : 4+n]
	}
	return out
}

// parseRendering turns half-block text back into modules (inverse of RenderModules).
func parseRendering(t *testing.T, s string, invert bool) [][]bool {
	t.Helper()
	var rows [][]bool
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		top, bottom := []bool{}, []bool{}
		for _, r := range line {
			ti, bi := false, false
			switch r {
			case '█':
				ti, bi = true, true
			case '▀':
				ti = true
			case '▄':
				bi = true
			case ' ':
			default:
				t.Fatalf("unexpected rune %q in rendering", r)
			}
			// ink is light by default, dark with invert
			top, bottom = append(top, ti == invert), append(bottom, bi == invert)
		}
		rows = append(rows, top, bottom)
	}
	return rows
}

func equalModules(a, b [][]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}

// TestQRRoundTrip: the instance's data URI decodes to exactly the library's modules, and the
// terminal drawing carries every module (plus a light quiet zone), in both polarities.
func TestQRRoundTrip(t *testing.T) {
	for _, text := range pairingTexts {
		uri, err := qr.DataURI(text)
		if err != nil {
			t.Fatal(err)
		}
		got, err := kubectlplugin.DecodeQRDataURI(uri)
		if err != nil {
			t.Fatal(err)
		}
		want := wantModules(t, text)
		if !equalModules(got, want) {
			t.Fatalf("%d-module code decoded wrong (got %d modules)", len(want), len(got))
		}
		for _, invert := range []bool{false, true} {
			var buf bytes.Buffer
			if err := kubectlplugin.RenderModules(&buf, got, invert); err != nil {
				t.Fatal(err)
			}
			drawn := parseRendering(t, buf.String(), invert)
			n, q := len(want), 2
			for r := 0; r < n+2*q; r++ {
				for c := 0; c < n+2*q; c++ {
					inCode := r >= q && c >= q && r < n+q && c < n+q
					wantDark := inCode && want[r-q][c-q]
					if drawn[r][c] != wantDark {
						t.Fatalf("invert=%v: module (%d,%d) drawn dark=%v, want %v", invert, r, c, drawn[r][c], wantDark)
					}
				}
			}
		}
	}
}

func TestDecodeRejectsBadURIs(t *testing.T) {
	for _, uri := range []string{"", "data:image/jpeg;base64,AAAA", "data:image/png;base64,!!!", "data:image/png;base64,aGVsbG8="} {
		if _, err := kubectlplugin.DecodeQRDataURI(uri); err == nil {
			t.Errorf("%q accepted", uri)
		}
	}
}

func TestQRFromStatus(t *testing.T) {
	requireEnv(t)
	ctx := context.Background()
	ns := newNamespace(t)
	p, out := newPlugin(ns)
	uri, err := qr.DataURI(pairingTexts[0])
	if err != nil {
		t.Fatal(err)
	}
	createInstance(t, ns, "pairing", nil, v1alpha1.MessengerInstanceStatus{AccountStatus: "got qr code", QRCode: uri})
	createInstance(t, ns, "done", nil, v1alpha1.MessengerInstanceStatus{AccountStatus: "authenticated", Phone: "15550001111"})
	createInstance(t, ns, "starting", nil, v1alpha1.MessengerInstanceStatus{AccountStatus: "loading"})

	if err := p.QR(ctx, "pairing", false); err != nil {
		t.Fatal(err)
	}
	text, hint, _ := strings.Cut(out.String(), "Scan with WhatsApp")
	drawn := parseRendering(t, text, false)
	want := wantModules(t, pairingTexts[0])
	if len(drawn) < len(want)+4 || drawn[2][2] != want[0][0] || drawn[8][8] != want[6][6] {
		t.Fatalf("drawn code does not match the status QR (%d rows)", len(drawn))
	}
	if !strings.Contains(hint, "Linked devices") {
		t.Fatalf("no scanning hint: %q", hint)
	}
	if err := p.QR(ctx, "done", false); err == nil || !strings.Contains(err.Error(), "already authenticated") {
		t.Fatalf("authenticated instance: %v", err)
	}
	if err := p.QR(ctx, "starting", false); err == nil || !strings.Contains(err.Error(), "no QR code yet") {
		t.Fatalf("instance without QR: %v", err)
	}
}
