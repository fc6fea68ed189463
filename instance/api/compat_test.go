package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/queue"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/internal/testpg"
)

// multipartBody encodes fields as PHP curl does with an array in CURLOPT_POSTFIELDS.
func multipartBody(fields [][2]string) (string, string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, f := range fields {
		_ = w.WriteField(f[0], f[1])
	}
	_ = w.Close()
	return w.FormDataContentType(), b.String()
}

// The request shapes of code written for chat-api.com are queued as the text they mean.
func TestSendMessageClientShapes(t *testing.T) {
	mpType, mpBody := multipartBody([][2]string{{"phone", "17472822486"}, {"body", "multipart"}})
	tests := []struct {
		name, method, path, ctype, body string
		header                          map[string]string
		want                            string // the queued body
		chat                            string
	}{
		{name: "PHP json_encode, stream context", path: "/sendMessage?token=" + token, ctype: "application/json",
			body: `{"phone":"17472822486","body":"Hello, world! 🍏"}`, want: "Hello, world! 🍏"},
		{name: "PHP one-time code as a number", path: "/sendMessage?token=" + token, ctype: "application/json",
			body: `{"phone":17472822486,"body":40213}`, want: "40213"},
		{name: "PHP http_build_query", path: "/sendMessage?token=" + token, ctype: "application/x-www-form-urlencoded",
			body: url.Values{"phone": {"+17472822486"}, "body": {"form & more"}}.Encode(), want: "form & more"},
		{name: "PHP curl with an array (multipart)", path: "/sendMessage?token=" + token, ctype: mpType, body: mpBody, want: "multipart"},
		{name: "Python requests json=", path: "/sendMessage?token=" + token, ctype: "application/json",
			body: `{"chatId": "17472822486@c.us", "body": "python json"}`, want: "python json"},
		{name: "Python requests data=dict", path: "/sendMessage?token=" + token, ctype: "application/x-www-form-urlencoded",
			body: "chatId=17472822486%40c.us&body=python+form", want: "python form"},
		{name: "Python data=json.dumps, no Content-Type", path: "/sendMessage?token=" + token,
			body: `{"phone": "17472822486", "body": "no type"}`, want: "no type"},
		{name: "form without Content-Type", path: "/sendMessage?token=" + token,
			body: "phone=17472822486&body=bare+form", want: "bare form"},
		{name: "fetch with a string body (text/plain)", path: "/sendMessage?token=" + token, ctype: "text/plain;charset=UTF-8",
			body: `{"phone":"17472822486","body":"fetch"}`, want: "fetch"},
		{name: "axios with Bearer", path: "/sendMessage", ctype: "application/json;charset=utf-8",
			header: map[string]string{"Authorization": "Bearer " + token}, body: `{"phone":"+17472822486","body":"axios"}`, want: "axios"},
		{name: "old name /message", path: "/message?token=" + token, ctype: "application/json",
			body: `{"phone":"17472822486","body":"old name"}`, want: "old name"},
		{name: "chat-api.com base URL", path: "/instance12345/sendMessage?token=" + token, ctype: "application/json",
			body: `{"phone":"17472822486","body":"prefixed"}`, want: "prefixed"},
		{name: "chat-api.com base URL, old name", path: "/instance12345/message?token=" + token, ctype: "application/json",
			body: `{"chatId":"120363000000000001@g.us","body":"to a group"}`, want: "to a group", chat: "120363000000000001@g.us"},
		{name: "phone given as chatId", path: "/sendMessage?token=" + token, ctype: "application/json",
			body: `{"chatId":"17472822486","body":"digits in chatId"}`, want: "digits in chatId"},
	}
	h := sqliteHarness(t, nil)
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodPost, tt.path, strings.NewReader(tt.body))
		if tt.ctype != "" {
			req.Header.Set("Content-Type", tt.ctype)
		}
		for k, v := range tt.header {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.srv.Handler().ServeHTTP(rec, req)
		resp := decode[sendResponse](t, rec)
		if rec.Code != http.StatusOK || !resp.Sent {
			t.Errorf("%s: %d %s", tt.name, rec.Code, rec.Body)
			continue
		}
		_, items, err := h.st.ListQueue(context.Background(), 1000)
		if err != nil {
			t.Fatal(err)
		}
		var got *store.Item
		for i := range items {
			if items[i].MessageID == resp.ID {
				got = &items[i]
			}
		}
		want := tt.chat
		if want == "" {
			want = "17472822486@c.us"
		}
		if got == nil || got.Body != tt.want || got.ChatID != want {
			t.Errorf("%s: queued %+v, want body %q to %s", tt.name, got, tt.want, want)
		}
	}
}

// Every path may carry /instance<digits>; other look-alikes are not stripped.
func TestInstancePrefix(t *testing.T) {
	h := sqliteHarness(t, nil)
	for path, want := range map[string]int{
		"/instance12345/status":       200,
		"/instance1/messages":         200,
		"/instance12345/webhook":      200,
		"/instance12345/qr_code":      404, // no QR yet: the endpoint's own answer
		"/instance12345/healthz":      200,
		"/instance12345/openapi.json": 200,
		"/instance/status":            404,
		"/instanceabc/status":         404,
		"/instance12x/status":         404,
		"/api/instance12345/status":   404,
		"/instance12345":              404,
	} {
		rec := h.do("GET", path, "", nil, true)
		if rec.Code != want {
			t.Errorf("GET %s = %d %s, want %d", path, rec.Code, rec.Body, want)
		}
		if want == 404 && !strings.Contains(path, "qr_code") && decode[errorBody](t, rec).Error == "" {
			t.Errorf("GET %s: no JSON error", path)
		}
	}
	// A media link in /messages is built from the public URL (never from the request), and it works
	// with the prefix too.
	ctx := context.Background()
	rel, _ := h.media.Save(media.Incoming, "pic.jpg", []byte("jpeg"))
	if _, _, err := h.st.AppendMessage(ctx, chat.Message{ID: "false_17472822486@c.us_3EB0AA", Type: chat.TypeImage,
		Body: h.media.Link(rel)}); err != nil {
		t.Fatal(err)
	}
	page := decode[messagesResponse](t, h.do("GET", "/instance777/messages", "", nil, true))
	if len(page.Messages) != 1 || !strings.HasPrefix(page.Messages[0].Body, DefaultPublicURL+"/media/in/") {
		t.Fatalf("media link = %+v", page.Messages)
	}
	link := "/instance777" + strings.TrimPrefix(page.Messages[0].Body, DefaultPublicURL)
	if rec := h.do("GET", link, "", nil, false); rec.Code != 200 || rec.Body.String() != "jpeg" {
		t.Fatalf("prefixed media link = %d", rec.Code)
	}
	if got := page.Messages[0].ChatName; got != "17472822486" {
		t.Fatalf("chatName of an entry without one = %q", got)
	}
}

// groupHarness answers every group creation at once; members returns the participants of each.
func groupHarness(t *testing.T) (*harness, func() [][]string) {
	h := sqliteHarness(t, nil)
	var mu sync.Mutex
	var got [][]string
	h.eng.onWake = func() {
		ctx := context.Background()
		items, _ := h.st.Due(ctx, time.Now(), 10)
		for _, it := range items {
			p, _ := it.Payload()
			meta, _ := p.(queue.Group)
			mu.Lock()
			got = append(got, meta.Participants)
			mu.Unlock()
			_ = h.st.MarkSending(ctx, it.QueueNumber)
			_ = h.st.MarkSent(ctx, it.QueueNumber, "120363000000000001@g.us", nil)
		}
	}
	return h, func() [][]string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// Members of POST /group as clients send them: an array, one string, numbers, chatIds, a form.
func TestGroupMembersLenient(t *testing.T) {
	tests := []struct {
		name, ctype, body string
		want              []string
	}{
		{"seed array", "application/json", `{"groupName":"g","phones":["17472822486","79680565372"]}`,
			[]string{"17472822486@c.us", "79680565372@c.us"}},
		{"one string (tutorial bot)", "application/json", `{"groupName":"g","phones":"17472822486"}`,
			[]string{"17472822486@c.us"}},
		{"comma separated", "application/json", `{"groupName":"g","phones":"17472822486, +79680565372"}`,
			[]string{"17472822486@c.us", "79680565372@c.us"}},
		{"numbers", "application/json", `{"groupName":"g","phones":[17472822486, 79680565372]}`,
			[]string{"17472822486@c.us", "79680565372@c.us"}},
		{"one number", "application/json", `{"groupName":"g","phones":17472822486}`, []string{"17472822486@c.us"}},
		{"chatIds array", "application/json", `{"groupName":"g","chatIds":["17472822486@c.us","79680565372@c.us"]}`,
			[]string{"17472822486@c.us", "79680565372@c.us"}},
		{"chatIds string", "application/json", `{"groupName":"g","chatIds":"17472822486@c.us"}`, []string{"17472822486@c.us"}},
		{"both, deduplicated", "application/json", `{"groupName":"g","phones":["17472822486"],"chatIds":["17472822486@c.us","79680565372@c.us"]}`,
			[]string{"17472822486@c.us", "79680565372@c.us"}},
		{"PHP http_build_query", "application/x-www-form-urlencoded",
			"groupName=g&phones%5B0%5D=17472822486&phones%5B1%5D=79680565372", []string{"17472822486@c.us", "79680565372@c.us"}},
		{"form with key[]", "application/x-www-form-urlencoded", "groupName=g&phones[]=79680565372&phones[]=17472822486",
			[]string{"79680565372@c.us", "17472822486@c.us"}},
		{"form, one value", "application/x-www-form-urlencoded", "groupName=g&phones=17472822486", []string{"17472822486@c.us"}},
		{"numeric subject and text", "application/json", `{"groupName":2024,"phones":"17472822486","messageText":40213}`,
			[]string{"17472822486@c.us"}},
	}
	h, members := groupHarness(t)
	for i, tt := range tests {
		rec := h.do("POST", "/group", tt.ctype, strings.NewReader(tt.body), true)
		if r := decode[groupResponse](t, rec); rec.Code != 200 || !r.Created {
			t.Errorf("%s: %d %s", tt.name, rec.Code, rec.Body)
			continue
		}
		if got := members(); len(got) != i+1 || fmt.Sprint(got[i]) != fmt.Sprint(tt.want) {
			t.Errorf("%s: participants %v, want %v", tt.name, got, tt.want)
		}
	}
	for name, body := range map[string]string{
		"a group as member": `{"groupName":"g","chatIds":["120363000000000001@g.us"]}`,
		"bad chatId":        `{"groupName":"g","chatIds":["x@example.com"]}`,
		"bad phone in list": `{"groupName":"g","phones":"17472822486,abc"}`,
	} {
		if rec := h.postJSON("/group", body); rec.Code != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s, want 422", name, rec.Code, rec.Body)
		}
	}
	for name, body := range map[string]string{
		"empty string": `{"groupName":"g","phones":""}`,
		"only commas":  `{"groupName":"g","phones":",,"}`,
		"object":       `{"groupName":"g","phones":{"a":1}}`,
		"bool list":    `{"groupName":"g","phones":[true]}`,
	} {
		rec := h.postJSON("/group", body)
		if rec.Code != http.StatusBadRequest || decode[errorBody](t, rec).Error == "" {
			t.Errorf("%s: %d %s, want 400", name, rec.Code, rec.Body)
		}
	}
}

func TestFlexDecoding(t *testing.T) {
	var s struct {
		A flexString  `json:"a"`
		L flexStrings `json:"l"`
	}
	for in, want := range map[string]string{
		`{"a":"x","l":["1",2]}`:    "x [1 2]",
		`{"a":12.50,"l":"a; b,c"}`: "12.50 [a b c]",
		`{"a":null,"l":null}`:      " []",
	} {
		s.A, s.L = "", nil
		if err := json.Unmarshal([]byte(in), &s); err != nil || fmt.Sprint(s.A, " ", []string(s.L)) != want {
			t.Errorf("%s = %q %v %v, want %q", in, s.A, s.L, err, want)
		}
	}
	err := json.Unmarshal([]byte(`{"a":{}}`), &s)
	if err == nil || !strings.Contains(describeJSONError(err), `field "a"`) {
		t.Errorf("object for a string: %v", err)
	}
	values, _ := url.ParseQuery("x[2]=c&x[0]=a&x[1]=b&y=1&z[]=q")
	if form, _ := json.Marshal(formObject(values)); string(form) != `{"x":["a","b","c"],"y":"1","z":["q"]}` {
		t.Errorf("formObject = %s", form)
	}
}

// GET /messages filters by chatId (any accepted form), min_time, max_time, honours limit and
// pages by lastMessageNumber with the filters, on both databases.
func TestMessagesFilters(t *testing.T) {
	for name, opts := range map[string]func(t *testing.T) store.Options{
		"sqlite":   func(t *testing.T) store.Options { return store.Options{DataDir: t.TempDir()} },
		"postgres": func(t *testing.T) store.Options { return store.Options{Database: testpg.Shared(t).NewDatabase(t)} },
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, opts(t), nil)
			ctx := context.Background()
			chats := []string{"17472822486@c.us", "79680565372@c.us", "120363000000000001@g.us"}
			for i := range 30 { // message i+1 is in chats[i%3], sent at 1600000000+i*60
				m := chat.Message{ID: fmt.Sprintf("false_%s_3EB0%018d", chats[i%3], i), Type: chat.TypeChat,
					Body: fmt.Sprint(i), Time: 1600000000 + int64(i)*60}
				if _, _, err := h.st.AppendMessage(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			get := func(query string) messagesResponse {
				t.Helper()
				rec := h.do("GET", "/messages?"+query, "", nil, true)
				if rec.Code != 200 {
					t.Fatalf("GET /messages?%s = %d %s", query, rec.Code, rec.Body)
				}
				return decode[messagesResponse](t, rec)
			}
			nums := func(r messagesResponse) string {
				var out []string
				for _, m := range r.Messages {
					out = append(out, fmt.Sprint(m.MessageNumber))
				}
				return strings.Join(out, ",")
			}
			for query, want := range map[string]string{
				"chatId=17472822486@c.us":                             "1,4,7,10,13,16,19,22,25,28",
				"chatId=17472822486%40s.whatsapp.net&limit=3":         "1,4,7",
				"chatId=%2B17472822486&lastMessageNumber=20":          "22,25,28",
				"chatId=17472822486":                                  "1,4,7,10,13,16,19,22,25,28",
				"chatId=120363000000000001@g.us&last=1&limit=2":       "27,30",
				"min_time=1600001500&max_time=1600001620":             "26,27,28",
				"min_time=1600001500000&max_time=1600001620000":       "26,27,28", // milliseconds
				"chatId=79680565372@c.us&min_time=1600000600&limit=2": "11,14",
				"max_time=1600000060":                                 "1,2",
				"last=true&max_time=1600000300":                       "1,2,3,4,5,6",
				"last=0&limit=2&lastMessageNumber=28":                 "29,30",
			} {
				if got := nums(get(query)); got != want {
					t.Errorf("GET /messages?%s = [%s], want [%s]", query, got, want)
				}
			}
			// Paging one chat within a window, two at a time, by the lastMessageNumber answered.
			var all []string
			after := int64(0)
			for range 10 {
				page := get(fmt.Sprintf("chatId=79680565372@c.us&min_time=1600000300&limit=2&lastMessageNumber=%d", after))
				if len(page.Messages) == 0 {
					if page.LastMessageNumber != after {
						t.Fatalf("empty page answers lastMessageNumber %d after %d", page.LastMessageNumber, after)
					}
					break
				}
				all = append(all, nums(page))
				after = page.LastMessageNumber
			}
			if got := strings.Join(all, ","); got != "8,11,14,17,20,23,26,29" {
				t.Fatalf("paged = [%s]", got)
			}
			// limit=0 (chat-api.com's "all") and too large a limit are capped, not refused.
			if n := len(get("limit=0").Messages); n != 30 {
				t.Errorf("limit=0 gave %d", n)
			}
			if n := len(get("limit=5000").Messages); n != 30 {
				t.Errorf("limit=5000 gave %d", n)
			}
		})
	}
}
