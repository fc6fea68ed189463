package kubectlplugin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/kubectlplugin"
)

// recorded is one request as an instance received it: JSON fields, or multipart fields and the
// uploaded file.
type recorded struct {
	path, auth       string
	fields           map[string]any
	fileField, fName string
	file             []byte
}

// recorder is an HTTP server standing in for an instance: it records each request and answers
// as /sendMessage does, or with the error set for a path.
type recorder struct {
	mu     sync.Mutex
	got    []recorded
	refuse map[string]string // path → error answered with 422
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec, err := decodeRequest(r)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"`+err.Error()+`"}`)
		return
	}
	rc.mu.Lock()
	rc.got = append(rc.got, rec)
	reason, refused := rc.refuse[r.URL.Path]
	rc.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if refused {
		w.WriteHeader(http.StatusUnprocessableEntity)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": reason})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"sent": true, "message": "ok", "id": "true_15550002222@c.us_3EB0AA", "queueNumber": 7})
}

func decodeRequest(r *http.Request) (recorded, error) {
	rec := recorded{path: r.URL.Path, auth: r.Header.Get("Authorization"), fields: map[string]any{}}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return rec, err
	}
	if mt == "application/json" {
		return rec, json.NewDecoder(r.Body).Decode(&rec.fields)
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return rec, nil
		}
		if err != nil {
			return rec, err
		}
		raw, err := io.ReadAll(part)
		if err != nil {
			return rec, err
		}
		if part.FileName() != "" {
			rec.fileField, rec.fName, rec.file = part.FormName(), part.FileName(), raw
			continue
		}
		rec.fields[part.FormName()] = string(raw)
	}
}

func (rc *recorder) last(t *testing.T) recorded {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.got) == 0 {
		t.Fatal("the instance got no request")
	}
	return rc.got[len(rc.got)-1]
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func pngBytes(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// oggBytes is the start of an Ogg/Opus file (capture pattern and identification header).
var oggBytes = append([]byte("OggS\x00\x02"+strings.Repeat("\x00", 20)+"\x01\x13"), []byte("OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00")...)

// TestSendKinds checks the requests `send` makes for each kind: text, location, a file and a
// voice note, with --reply-to, against a recording server standing in for the instance.
func TestSendKinds(t *testing.T) {
	requireEnv(t)
	ctx := context.Background()
	ns := newNamespace(t)
	p, out := newPlugin(ns)
	rc := &recorder{refuse: map[string]string{}}
	hs := httptest.NewServer(rc)
	t.Cleanup(hs.Close)
	if err := k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sales-token"},
		Data: map[string][]byte{"token": []byte("tok")}}); err != nil {
		t.Fatal(err)
	}
	createInstance(t, ns, "sales", nil, v1alpha1.MessengerInstanceStatus{Endpoint: hs.URL + "/", TokenSecretName: "sales-token"})
	const reply = "false_15550002222@c.us_3EB0C767D26A1D8D"

	send := func(o kubectlplugin.SendOptions) recorded {
		t.Helper()
		if _, err := p.Send(ctx, "sales", o); err != nil {
			t.Fatalf("send %+v: %v", o, err)
		}
		return rc.last(t)
	}
	r := send(kubectlplugin.SendOptions{To: "+15550002222", Text: "hi", ReplyTo: reply})
	if r.path != "/sendMessage" || r.auth != "Bearer tok" || r.fields["phone"] != "15550002222" || r.fields["body"] != "hi" ||
		r.fields["quotedMsgId"] != reply {
		t.Fatalf("text: %+v", r)
	}

	r = send(kubectlplugin.SendOptions{To: "15550002222", Location: " 52.5163, -13.3777", Address: "Pariser Platz", ReplyTo: reply})
	if r.path != "/sendLocation" || r.fields["lat"] != 52.5163 || r.fields["lng"] != -13.3777 || r.fields["address"] != "Pariser Platz" ||
		r.fields["quotedMsgId"] != reply || r.fields["body"] != nil {
		t.Fatalf("location: %+v", r)
	}
	r = send(kubectlplugin.SendOptions{To: "15550002222", Location: "-90,180"})
	if r.path != "/sendLocation" || r.fields["lat"] != -90.0 || r.fields["lng"] != 180.0 || r.fields["address"] != nil || r.fields["quotedMsgId"] != nil {
		t.Fatalf("location without address: %+v", r)
	}

	photo := pngBytes(t)
	r = send(kubectlplugin.SendOptions{To: "120363025246125486@g.us", File: writeFile(t, "photo.png", photo), Text: "look", ReplyTo: reply})
	if r.path != "/sendFile" || r.fields["chatId"] != "120363025246125486@g.us" || r.fields["filename"] != "photo.png" ||
		r.fields["caption"] != "look" || r.fields["quotedMsgId"] != reply || r.fileField != "body" || !bytes.Equal(r.file, photo) {
		t.Fatalf("file: %+v", r)
	}

	// Ogg audio is a voice note, told by its extension or by its content.
	for _, name := range []string{"note.ogg", "recording.bin"} {
		r = send(kubectlplugin.SendOptions{To: "15550002222", File: writeFile(t, name, oggBytes), ReplyTo: reply})
		if r.path != "/sendPTT" || r.fileField != "audio" || r.fName != name || !bytes.Equal(r.file, oggBytes) ||
			r.fields["phone"] != "15550002222" || r.fields["quotedMsgId"] != reply || r.fields["caption"] != nil {
			t.Fatalf("voice note %s: %+v", name, r)
		}
	}
	if !strings.Contains(out.String(), "queued true_15550002222@c.us_3EB0AA (queue number 7): ok") {
		t.Fatalf("output %q", out.String())
	}

	// The instance's refusal reaches the user with its reason.
	rc.refuse["/sendPTT"] = "audio: audio/ogg with Vorbis is not a voice note: send Ogg/Opus"
	_, err := p.Send(ctx, "sales", kubectlplugin.SendOptions{To: "15550002222", File: writeFile(t, "vorbis.ogg", oggBytes)})
	if err == nil || !strings.Contains(err.Error(), "422") || !strings.Contains(err.Error(), "send Ogg/Opus") {
		t.Fatalf("refused voice note: %v", err)
	}
}

// TestSendOptionsRejected: bad flag combinations and values fail with a clear error before the
// plugin reads anything from the cluster (the plugin here has no client at all).
func TestSendOptionsRejected(t *testing.T) {
	p := &kubectlplugin.Plugin{Out: io.Discard}
	empty := writeFile(t, "empty.png", nil)
	ogg := writeFile(t, "note.ogg", oggBytes)
	photo := writeFile(t, "photo.png", []byte("\x89PNG\r\n\x1a\n"))
	for _, c := range []struct {
		o    kubectlplugin.SendOptions
		want string
	}{
		{kubectlplugin.SendOptions{Text: "x"}, "--to is required"},
		{kubectlplugin.SendOptions{To: "1555"}, "one of --text, --location or --file is required"},
		{kubectlplugin.SendOptions{To: "1555", Location: "52.5"}, "want LAT,LNG"},
		{kubectlplugin.SendOptions{To: "1555", Location: "north,east"}, "want LAT,LNG"},
		{kubectlplugin.SendOptions{To: "1555", Location: "NaN,1"}, "want LAT,LNG"},
		{kubectlplugin.SendOptions{To: "1555", Location: "90.5,0"}, "latitude 90.5 is outside -90..90"},
		{kubectlplugin.SendOptions{To: "1555", Location: "0,-180.01"}, "longitude -180.01 is outside -180..180"},
		{kubectlplugin.SendOptions{To: "1555", Location: "1,2", Text: "x"}, "--text cannot go with --location"},
		{kubectlplugin.SendOptions{To: "1555", Address: "Berlin", Text: "x"}, "--address names a --location"},
		{kubectlplugin.SendOptions{To: "1555", Location: "1,2", File: photo}, "--location and --file are exclusive"},
		{kubectlplugin.SendOptions{To: "1555", File: filepath.Join(t.TempDir(), "missing.png")}, "no such file"},
		{kubectlplugin.SendOptions{To: "1555", File: empty}, "is empty"},
		{kubectlplugin.SendOptions{To: "1555", File: t.TempDir()}, "not a regular file"},
		{kubectlplugin.SendOptions{To: "1555", File: ogg, Text: "x"}, "--text cannot go with a voice note"},
		{kubectlplugin.SendOptions{To: "1555", Text: "x", ReplyTo: "3EB0C767D26A1D8D"}, "--reply-to"},
	} {
		if _, err := p.Send(context.Background(), "sales", c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.o, err, c.want)
		}
	}
}

func TestParseLocation(t *testing.T) {
	lat, lng, err := kubectlplugin.ParseLocation(" -33.8568 ,151.2153 ")
	if err != nil || lat != -33.8568 || lng != 151.2153 {
		t.Fatalf("ParseLocation = %v, %v, %v", lat, lng, err)
	}
	if _, _, err := kubectlplugin.ParseLocation("1,2,3"); err == nil {
		t.Fatal("three numbers accepted")
	}
}
