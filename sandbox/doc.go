// Package sandbox is a hermetic WhatsApp-compatible network. It speaks the real multi-device
// protocol (Noise XX over a websocket, binary XML nodes) to unmodified whatsmeow clients and
// owns simulated phones that pair devices by QR, send and receive end-to-end encrypted messages,
// send receipts, create groups and suffer faults. Start one with Start; drive it through the
// admin REST API under /sandbox/ (see admin.go).
package sandbox
