package kubectlplugin

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"strings"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

// quietZone is the light border, in modules, drawn around the code (scanners need one).
const quietZone = 2

// QR draws the pairing QR code of instance name (status.qrCode) in the terminal. invert draws
// dark modules as blocks, for terminals with a light background.
func (p *Plugin) QR(ctx context.Context, name string, invert bool) error {
	mi, err := p.get(ctx, name)
	if err != nil {
		return err
	}
	if mi.Status.QRCode == "" {
		if mi.Status.AccountStatus == v1alpha1.AccountStatusAuthenticated {
			return fmt.Errorf("%s/%s is already authenticated (phone %s): no QR code to scan", p.Namespace, name, orDash(mi.Status.Phone))
		}
		return fmt.Errorf("%s/%s has no QR code yet (account status %q): try again in a few seconds", p.Namespace, name, orDash(mi.Status.AccountStatus))
	}
	modules, err := DecodeQRDataURI(mi.Status.QRCode)
	if err != nil {
		return fmt.Errorf("%s/%s status.qrCode: %w", p.Namespace, name, err)
	}
	if err := RenderModules(p.Out, modules, invert); err != nil {
		return err
	}
	_, err = fmt.Fprintf(p.Out, "Scan with WhatsApp on the phone: Settings → Linked devices → Link a device (account status %q).\n", mi.Status.AccountStatus)
	return err
}

// DecodeQRDataURI decodes a data:image/png;base64 QR code into its module matrix (true = dark),
// without the quiet zone.
func DecodeQRDataURI(uri string) ([][]bool, error) {
	const prefix = "data:image/png;base64,"
	if !strings.HasPrefix(uri, prefix) {
		return nil, errors.New("not a data:image/png;base64 URI")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(uri, prefix))
	if err != nil {
		return nil, fmt.Errorf("decoding base64: %w", err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("decoding PNG: %w", err)
	}
	return modulesOf(img)
}

// modulesOf samples a rendered QR code: the top-left finder pattern is 7 modules wide, which
// gives the module count; each module is read at its centre.
func modulesOf(img image.Image) ([][]bool, error) {
	b := img.Bounds()
	dark := func(x, y int) bool {
		r, g, bl, _ := img.At(x, y).RGBA()
		return (r+g+bl)/3 < 0x8000
	}
	minX, minY, maxX, maxY := b.Max.X, b.Max.Y, -1, -1
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if dark(x, y) {
				minX, minY, maxX, maxY = min(minX, x), min(minY, y), max(maxX, x), max(maxY, y)
			}
		}
	}
	if maxX < 0 {
		return nil, errors.New("the image has no dark pixel")
	}
	run := 0
	for x := minX; x <= maxX && dark(x, minY); x++ {
		run++
	}
	width, height := maxX-minX+1, maxY-minY+1
	if run < 7 || width != height {
		return nil, fmt.Errorf("no QR code: dark area %dx%d pixels, top-left run of %d pixels", width, height, run)
	}
	// Modules may be drawn a pixel wider or narrower (nearest-pixel scaling): estimate the module
	// count from the finder pattern and round it to a QR version's size, 17+4v.
	estimate := float64(width) * 7 / float64(run)
	v := int(math.Round((estimate - 17) / 4))
	n := 17 + 4*v
	if v < 1 || v > 40 || math.Abs(estimate-float64(n)) > 1.5 {
		return nil, fmt.Errorf("%.1f modules per side is not a QR code version", estimate)
	}
	size := float64(width) / float64(n)
	out := make([][]bool, n)
	for row := range out {
		out[row] = make([]bool, n)
		for col := range out[row] {
			out[row][col] = dark(minX+int((float64(col)+0.5)*size), minY+int((float64(row)+0.5)*size))
		}
	}
	return out, nil
}

// RenderModules draws a module matrix with Unicode half blocks, two module rows per text line,
// inside a quiet zone. By default light modules are drawn (dark terminal background); invert
// draws dark ones.
func RenderModules(w io.Writer, modules [][]bool, invert bool) error {
	n := len(modules)
	at := func(r, c int) bool { // true = draw ink
		r, c = r-quietZone, c-quietZone
		dark := r >= 0 && c >= 0 && r < n && c < n && modules[r][c]
		return dark == invert
	}
	side := n + 2*quietZone
	var sb strings.Builder
	for r := 0; r < side; r += 2 {
		for c := 0; c < side; c++ {
			top, bottom := at(r, c), r+1 < side && at(r+1, c)
			switch {
			case top && bottom:
				sb.WriteRune('█')
			case top:
				sb.WriteRune('▀')
			case bottom:
				sb.WriteRune('▄')
			default:
				sb.WriteRune(' ')
			}
		}
		sb.WriteByte('\n')
	}
	if _, err := io.WriteString(w, sb.String()); err != nil {
		return fmt.Errorf("writing QR code: %w", err)
	}
	return nil
}
