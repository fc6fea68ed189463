package controllers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// InstanceClient is how the operator talks to an instance server. Tests replace it with a double.
type InstanceClient interface {
	// Logout asks the instance at endpoint to log its WhatsApp account out.
	Logout(ctx context.Context, endpoint, token string) error
}

// HTTPInstanceClient calls the instance's HTTP API (the Chat API's POST /logout).
type HTTPInstanceClient struct {
	// HTTP is the client used; nil means a client with Timeout.
	HTTP *http.Client
	// Timeout bounds one call (10 s when zero).
	Timeout time.Duration
}

// Logout sends POST {endpoint}/logout?token=… and expects a 2xx answer. Errors never contain the
// token: the URL is left out of them.
func (c HTTPInstanceClient) Logout(ctx context.Context, endpoint, token string) error {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u := endpoint + "/logout?token=" + url.QueryEscape(token)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return fmt.Errorf("building logout request for %s: %w", endpoint, stripURL(err))
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: timeout}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s/logout: %w", endpoint, stripURL(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s/logout: status %d: %s", endpoint, resp.StatusCode, body)
	}
	return nil
}

// stripURL drops the URL (which carries the token) from a *url.Error.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
