package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/qr"
)

type statusData struct {
	Substatus string `json:"substatus"`
	Message   string `json:"msg,omitempty"`
	Network   string `json:"network"`
}

type statusResponse struct {
	AccountStatus string      `json:"accountStatus"`
	QRCode        string      `json:"qrCode,omitempty"`
	StatusData    *statusData `json:"statusData,omitempty"`
}

func (s *Server) status(c *gin.Context) {
	st := s.opts.Engine.Status()
	resp := statusResponse{AccountStatus: st.AccountStatus}
	if st.AccountStatus == account.StatusGotQRCode && st.QR != "" {
		uri, err := qr.DataURI(st.QR)
		if err != nil {
			s.log.Error("rendering QR code", "error", err)
		} else {
			resp.QRCode = uri
		}
	}
	if full, _ := parseBool(c.Query("full")); full {
		network := "whatsapp"
		if st.Sandbox {
			network = "sandbox"
		}
		resp.StatusData = &statusData{Substatus: st.Substatus, Message: st.Message, Network: network}
	}
	c.JSON(http.StatusOK, resp)
}

// qrCode serves the current QR as a PNG, or as raw text with ?format=raw.
func (s *Server) qrCode(c *gin.Context) {
	st := s.opts.Engine.Status()
	if st.AccountStatus != account.StatusGotQRCode || st.QR == "" {
		abort(c, http.StatusNotFound, "no QR code: the account status is %q", st.AccountStatus)
		return
	}
	c.Header("Cache-Control", "no-store")
	switch c.DefaultQuery("format", "png") {
	case "raw":
		c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(st.QR))
	case "png":
		png, err := qr.PNG(st.QR)
		if err != nil {
			s.log.Error("rendering QR code", "error", err)
			abort(c, http.StatusInternalServerError, "could not render the QR code")
			return
		}
		c.Data(http.StatusOK, "image/png", png)
	default:
		abort(c, http.StatusBadRequest, "format must be png or raw")
	}
}

// engineError answers an error from the engine.
func (s *Server) engineError(c *gin.Context, what string, err error) {
	switch {
	case errors.Is(err, account.ErrUnavailable), errors.Is(err, account.ErrNotAuthenticated):
		abort(c, http.StatusServiceUnavailable, "%s: %v", what, err)
	case errors.Is(err, account.ErrAlreadyAuthenticated):
		abort(c, http.StatusUnprocessableEntity, "%s: %v", what, err)
	case errors.Is(err, context.DeadlineExceeded):
		abort(c, http.StatusServiceUnavailable, "%s: WhatsApp did not answer in time", what)
	default:
		s.log.Error(what, "error", err)
		abort(c, http.StatusServiceUnavailable, "%s failed: %v", what, err)
	}
}

// engineContext bounds engine calls made for a request.
func engineContext(c *gin.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request.Context(), 30*time.Second)
}

func (s *Server) logout(c *gin.Context) {
	ctx, cancel := engineContext(c)
	defer cancel()
	if err := s.opts.Engine.Logout(ctx); err != nil {
		s.engineError(c, "logout", err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"result": "Logout request sent to WhatsApp"})
}

func (s *Server) reboot(c *gin.Context) {
	ctx, cancel := engineContext(c)
	defer cancel()
	if err := s.opts.Engine.Reboot(ctx); err != nil {
		s.engineError(c, "reboot", err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"success": true})
}

type pairingRequest struct {
	Phone flexString `json:"phone"`
}

func (s *Server) pairingCode(c *gin.Context) {
	var req pairingRequest
	if !bind(c, &req) {
		return
	}
	if req.Phone == "" {
		abort(c, http.StatusBadRequest, "phone is required: the account's phone number with country code")
		return
	}
	id, err := chat.ParsePhone(string(req.Phone))
	if err != nil {
		abort(c, http.StatusUnprocessableEntity, "%v", err)
		return
	}
	ctx, cancel := engineContext(c)
	defer cancel()
	code, err := s.opts.Engine.PairingCode(ctx, id.User)
	if err != nil {
		s.engineError(c, "pairing code", err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"code": code})
}

func (s *Server) me(c *gin.Context) {
	ctx, cancel := engineContext(c)
	defer cancel()
	me, err := s.opts.Engine.Me(ctx)
	if err != nil {
		s.engineError(c, "me", err)
		return
	}
	c.JSON(http.StatusOK, me)
}

func itoa(n int) string { return strconv.Itoa(n) }
