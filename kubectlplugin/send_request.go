package kubectlplugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// sendRequest is one checked send: the path it goes to and its fields, as JSON or, with a file,
// as a multipart form whose file part is named fileField.
type sendRequest struct {
	path      string
	fields    map[string]any
	file      *os.File
	fileField string
}

// build checks the options and turns them into a request; it opens File (close the request).
func (o SendOptions) build() (*sendRequest, error) {
	if strings.TrimSpace(o.To) == "" {
		return nil, errors.New("--to is required")
	}
	r := &sendRequest{fields: map[string]any{}}
	if strings.Contains(o.To, "@") {
		r.fields["chatId"] = o.To
	} else {
		r.fields["phone"] = strings.TrimPrefix(o.To, "+")
	}
	if o.ReplyTo != "" {
		if _, err := chat.ParseMessageID(o.ReplyTo); err != nil {
			return nil, fmt.Errorf("--reply-to: %w (the id as /messages or a send's answer shows it)", err)
		}
		r.fields["quotedMsgId"] = o.ReplyTo
	}
	if o.Address != "" && o.Location == "" {
		return nil, errors.New("--address names a --location: give --location LAT,LNG too")
	}
	var err error
	switch {
	case o.Location != "" && o.File != "":
		err = errors.New("--location and --file are exclusive: send them one at a time")
	case o.Location != "":
		err = r.location(o)
	case o.File != "":
		err = r.attach(o)
	case o.Text == "":
		err = errors.New("one of --text, --location or --file is required")
	default:
		r.path, r.fields["body"] = "/sendMessage", o.Text
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// location makes the request a POST /sendLocation.
func (r *sendRequest) location(o SendOptions) error {
	if o.Text != "" {
		return errors.New("--text cannot go with --location (a location has no text: use --address to name the place)")
	}
	lat, lng, err := ParseLocation(o.Location)
	if err != nil {
		return err
	}
	r.path, r.fields["lat"], r.fields["lng"] = "/sendLocation", lat, lng
	if o.Address != "" {
		r.fields["address"] = o.Address
	}
	return nil
}

// ParseLocation reads "LAT,LNG" in degrees (spaces allowed), latitude within -90..90 and longitude
// within -180..180.
func ParseLocation(s string) (lat, lng float64, err error) {
	latS, lngS, ok := strings.Cut(s, ",")
	if ok {
		lat, err = strconv.ParseFloat(strings.TrimSpace(latS), 64)
	}
	if ok && err == nil {
		lng, err = strconv.ParseFloat(strings.TrimSpace(lngS), 64)
	}
	if !ok || err != nil || math.IsNaN(lat) || math.IsNaN(lng) {
		return 0, 0, fmt.Errorf("--location %q: want LAT,LNG in decimal degrees, e.g. 52.5163,13.3777", s)
	}
	if lat < -90 || lat > 90 {
		return 0, 0, fmt.Errorf("--location %q: latitude %g is outside -90..90", s, lat)
	}
	if lng < -180 || lng > 180 {
		return 0, 0, fmt.Errorf("--location %q: longitude %g is outside -180..180", s, lng)
	}
	return lat, lng, nil
}

// attach makes the request a multipart upload of o.File: /sendPTT for Ogg audio (a voice note),
// else /sendFile with the text as caption.
func (r *sendRequest) attach(o SendOptions) error {
	f, err := os.Open(o.File)
	if err != nil {
		return fmt.Errorf("--file: %w", err)
	}
	st, err := f.Stat()
	switch {
	case err != nil:
		err = fmt.Errorf("--file: %w", err)
	case !st.Mode().IsRegular():
		err = fmt.Errorf("--file %s is not a regular file", o.File)
	case st.Size() == 0:
		err = fmt.Errorf("--file %s is empty", o.File)
	}
	if err == nil {
		err = r.route(f, o)
	}
	if err != nil {
		_ = f.Close()
		return err
	}
	r.file = f
	return nil
}

// route picks the endpoint for an opened file by its content and name.
func (r *sendRequest) route(f *os.File, o SendOptions) error {
	voice, err := isOgg(f)
	if err != nil {
		return fmt.Errorf("--file: reading %s: %w", o.File, err)
	}
	if voice {
		if o.Text != "" {
			return errors.New("--text cannot go with a voice note (an Ogg file is sent as one, and voice notes have no caption)")
		}
		r.path, r.fileField = "/sendPTT", "audio"
		return nil
	}
	r.path, r.fileField, r.fields["filename"] = "/sendFile", "body", filepath.Base(o.File)
	if o.Text != "" {
		r.fields["caption"] = o.Text
	}
	return nil
}

// isOgg tells an Ogg file (the container of voice notes) by its first bytes or its extension, and
// rewinds f.
func isOgg(f *os.File) (bool, error) {
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return false, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	switch strings.ToLower(filepath.Ext(f.Name())) {
	case ".ogg", ".oga", ".opus":
		return true, nil
	}
	return http.DetectContentType(head[:n]) == "application/ogg", nil
}

// body returns the request body and its content type. A file is streamed, not read into memory.
func (r *sendRequest) body() (io.Reader, string, error) {
	if r.file == nil {
		raw, err := json.Marshal(r.fields)
		if err != nil {
			return nil, "", fmt.Errorf("encoding message: %w", err)
		}
		return bytes.NewReader(raw), "application/json", nil
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() { _ = pw.CloseWithError(r.writeForm(mw)) }()
	return pr, mw.FormDataContentType(), nil
}

// writeForm writes the fields, then the file, as a multipart form.
func (r *sendRequest) writeForm(mw *multipart.Writer) error {
	for _, k := range []string{"chatId", "phone", "quotedMsgId", "filename", "caption"} {
		if v, ok := r.fields[k]; ok {
			if err := mw.WriteField(k, fmt.Sprint(v)); err != nil {
				return err
			}
		}
	}
	part, err := mw.CreateFormFile(r.fileField, filepath.Base(r.file.Name()))
	if err != nil {
		return err
	}
	if _, err := io.Copy(part, r.file); err != nil {
		return fmt.Errorf("reading %s: %w", r.file.Name(), err)
	}
	return mw.Close()
}

func (r *sendRequest) close() {
	if r.file != nil {
		_ = r.file.Close()
	}
}
