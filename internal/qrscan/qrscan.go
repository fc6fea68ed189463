// Package qrscan reads QR codes the way a phone's camera does, for tests that scan what the
// instance shows: a data:image/png;base64 URI (status.qrCode, GET /status) in, the QR text out.
package qrscan

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image/png"
	"strings"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// DataURIPrefix starts every QR code URI the instance produces.
const DataURIPrefix = "data:image/png;base64,"

// DecodeDataURI decodes the PNG of a data URI and reads the QR code in it.
func DecodeDataURI(uri string) (string, error) {
	if !strings.HasPrefix(uri, DataURIPrefix) {
		return "", fmt.Errorf("not a %s… URI", DataURIPrefix)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(uri, DataURIPrefix))
	if err != nil {
		return "", fmt.Errorf("QR code is not base64: %w", err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		return "", fmt.Errorf("QR code is not a PNG: %w", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", fmt.Errorf("reading the QR image: %w", err)
	}
	// The instance renders a pure, unrotated code: reading it as one avoids the finder-pattern
	// search, which misses some codes; the hard search is the fallback for anything else.
	res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		res, err = qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	}
	if err != nil {
		return "", fmt.Errorf("decoding the QR code: %w", err)
	}
	return res.GetText(), nil
}
