package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
)

// payloads are the files the media kinds send, generated once (seeded, so every run sends the
// same bytes), as data URIs.
type payloads struct {
	oggURI, webpURI, mp4URI, jpegURI, thumbBase64 string
	// desc names the files and their sizes.
	desc string
}

func newPayloads() (*payloads, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	photo, err := noiseJPEG(rng, 640, 480)
	if err != nil {
		return nil, err
	}
	thumb, err := noiseJPEG(rng, 48, 48)
	if err != nil {
		return nil, err
	}
	ogg, webp, mp4 := oggOpus(rng, 10), stickerWebP(), fakeMP4(rng, 256<<10)
	uri := func(mime string, b []byte) string {
		return "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(b)
	}
	return &payloads{
		oggURI: uri("audio/ogg", ogg), webpURI: uri("image/webp", webp), mp4URI: uri("video/mp4", mp4),
		jpegURI: uri("image/jpeg", photo), thumbBase64: base64.StdEncoding.EncodeToString(thumb),
		desc: fmt.Sprintf("voice note %s (10 s Ogg/Opus), sticker %s (1×1 WebP), video %s (MP4), image %s (640×480 JPEG), link thumbnail %s",
			kib(len(ogg)), kib(len(webp)), kib(len(mp4)), kib(len(photo)), kib(len(thumb))),
	}, nil
}

func kib(n int) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f KiB", float64(n)/1024)
}

// noiseJPEG is a w×h JPEG of coloured noise (quality 80): about what a photo weighs.
func noiseJPEG(rng *rand.Rand, w, h int) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := uint8(rng.IntN(256))
			img.Set(x, y, color.RGBA{R: v, G: uint8(x), B: uint8(y), A: 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		return nil, fmt.Errorf("encoding JPEG: %w", err)
	}
	return b.Bytes(), nil
}

// stickerWebP is a 1×1 lossless WebP (RIFF, WEBP, one VP8L chunk).
func stickerWebP() []byte {
	raw, _ := base64.StdEncoding.DecodeString("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")
	return raw
}

// fakeMP4 is an ISO media file as content sniffing sees one (an ftyp box with the isom and mp41
// brands) followed by an mdat box of n random bytes. Phones in the sandbox download it; nothing
// plays it.
func fakeMP4(rng *rand.Rand, n int) []byte {
	var b bytes.Buffer
	box := func(typ string, payload []byte) {
		_ = binary.Write(&b, binary.BigEndian, uint32(8+len(payload)))
		b.WriteString(typ)
		b.Write(payload)
	}
	box("ftyp", []byte("isom\x00\x00\x02\x00isommp41"))
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(rng.UintN(256))
	}
	box("mdat", data)
	return b.Bytes()
}

// oggOpus is a mono Ogg/Opus stream of the given seconds: identification and comment headers,
// then 20 ms CELT frames of 40 bytes (16 kbit/s, a voice note's rate), one page per second.
func oggOpus(rng *rand.Rand, seconds int) []byte {
	const serial, preSkip, frameSamples = 0x6d657373, 312, 960
	var out bytes.Buffer
	seq := uint32(0)
	page := func(headerType byte, granule uint64, packets [][]byte) {
		out.Write(oggPage(headerType, granule, serial, seq, packets))
		seq++
	}
	head := []byte("OpusHead\x01\x01")
	head = binary.LittleEndian.AppendUint16(head, preSkip)
	head = binary.LittleEndian.AppendUint32(head, 48000)
	head = append(head, 0, 0, 0) // output gain 0, channel mapping family 0
	page(0x02, 0, [][]byte{head})
	tags := []byte("OpusTags")
	vendor := "messenger-operator bench"
	tags = binary.LittleEndian.AppendUint32(tags, uint32(len(vendor)))
	tags = append(tags, vendor...)
	tags = binary.LittleEndian.AppendUint32(tags, 0)
	page(0, 0, [][]byte{tags})
	granule := uint64(preSkip)
	for s := range seconds {
		packets := make([][]byte, 50)
		for i := range packets {
			p := make([]byte, 40)
			p[0] = 0xF8 // TOC: config 31 (CELT, fullband, 20 ms), mono, one frame
			for j := 1; j < len(p); j++ {
				p[j] = byte(rng.UintN(256))
			}
			packets[i] = p
		}
		granule += uint64(len(packets) * frameSamples)
		headerType := byte(0)
		if s == seconds-1 {
			headerType = 0x04 // end of stream
		}
		page(headerType, granule, packets)
	}
	return out.Bytes()
}

// oggPage builds one Ogg page holding whole packets (each under 255 bytes × 255 segments).
func oggPage(headerType byte, granule uint64, serial, seq uint32, packets [][]byte) []byte {
	var lacing, body []byte
	for _, p := range packets {
		n := len(p)
		for ; n >= 255; n -= 255 {
			lacing = append(lacing, 255)
		}
		lacing = append(lacing, byte(n))
		body = append(body, p...)
	}
	h := []byte("OggS\x00")
	h = append(h, headerType)
	h = binary.LittleEndian.AppendUint64(h, granule)
	h = binary.LittleEndian.AppendUint32(h, serial)
	h = binary.LittleEndian.AppendUint32(h, seq)
	h = binary.LittleEndian.AppendUint32(h, 0) // CRC, filled below
	h = append(h, byte(len(lacing)))
	h = append(h, lacing...)
	pg := append(h, body...)
	binary.LittleEndian.PutUint32(pg[22:], oggCRC(pg))
	return pg
}

// oggCRCTable is the CRC-32 of Ogg pages: polynomial 0x04c11db7, MSB first, no reflection.
var oggCRCTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

func oggCRC(b []byte) uint32 {
	var crc uint32
	for _, c := range b {
		crc = crc<<8 ^ oggCRCTable[byte(crc>>24)^c]
	}
	return crc
}
