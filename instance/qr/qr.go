// Package qr renders WhatsApp pairing QR codes as PNG images and data URIs, the forms that the
// Chat API (GET /status, GET /qr_code) and the MessengerInstance status carry.
package qr

import (
	"encoding/base64"
	"fmt"

	qrcode "github.com/skip2/go-qrcode"
)

// Size is the side of rendered QR code PNGs in pixels.
const Size = 256

// PNG renders text as a QR code PNG of Size pixels.
func PNG(text string) ([]byte, error) {
	png, err := qrcode.Encode(text, qrcode.Medium, Size)
	if err != nil {
		return nil, fmt.Errorf("rendering QR code: %w", err)
	}
	return png, nil
}

// DataURI renders text as a QR code in a data:image/png;base64 URI.
func DataURI(text string) (string, error) {
	png, err := PNG(text)
	if err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(png), nil
}
