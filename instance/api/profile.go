package api

import (
	"bytes"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/fetch"
)

// Limits of POST /me (WhatsApp's own: a 25-character push name, a 139-character about text).
const (
	MaxProfileName  = 25
	MaxProfileAbout = 139
	// MaxPictureBytes caps a profile picture.
	MaxPictureBytes = 5 << 20
)

type meRequest struct {
	Name    *flexString `json:"name"`
	About   *flexString `json:"about"`
	Picture flexString  `json:"picture"`
}

// setMe changes the account's push name, about text and picture (a JPEG by URL or data URI).
func (s *Server) setMe(c *gin.Context) {
	var req meRequest
	if !bind(c, &req) {
		return
	}
	var p account.Profile
	if req.Name != nil {
		name := strings.TrimSpace(string(*req.Name))
		if name == "" || utf8.RuneCountInString(name) > MaxProfileName {
			abort(c, http.StatusUnprocessableEntity, "name must be 1 to %d characters", MaxProfileName)
			return
		}
		p.Name = &name
	}
	if req.About != nil {
		about := string(*req.About)
		if utf8.RuneCountInString(about) > MaxProfileAbout {
			abort(c, http.StatusUnprocessableEntity, "about must be at most %d characters", MaxProfileAbout)
			return
		}
		p.About = &about
	}
	if pic := strings.TrimSpace(string(req.Picture)); pic != "" {
		data, ok := s.readPicture(c, pic)
		if !ok {
			return
		}
		p.Picture = data
	}
	if p.Name == nil && p.About == nil && p.Picture == nil {
		abort(c, http.StatusBadRequest, "name, about or picture is required")
		return
	}
	eng, ok := s.chats(c)
	if !ok {
		return
	}
	ctx, cancel := engineContext(c)
	defer cancel()
	if err := eng.SetProfile(ctx, p); err != nil {
		s.chatError(c, "me", err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"set": true, "name": p.Name != nil, "about": p.About != nil, "picture": p.Picture != nil})
}

// readPicture gets a JPEG given by URL or data URI.
func (s *Server) readPicture(c *gin.Context, src string) ([]byte, bool) {
	var buf bytes.Buffer
	var err error
	if fetch.IsDataURI(src) {
		_, err = fetch.ParseDataURI(src, "picture.jpg", MaxPictureBytes, &buf)
	} else {
		_, err = s.opts.Fetcher.Get(c.Request.Context(), src, "picture.jpg", &buf)
	}
	if err != nil {
		abort(c, fileErrorStatus(err), "picture: %v", err)
		return nil, false
	}
	if buf.Len() > MaxPictureBytes {
		abort(c, http.StatusRequestEntityTooLarge, "picture: larger than %d bytes", MaxPictureBytes)
		return nil, false
	}
	if mime := http.DetectContentType(buf.Bytes()); mime != "image/jpeg" {
		abort(c, http.StatusUnsupportedMediaType, "picture must be a JPEG, not %s", mime)
		return nil, false
	}
	return buf.Bytes(), true
}
