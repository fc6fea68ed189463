// Package chat holds the Chat API wire types (messages, acks, queue items, webhook payloads) and the
// parsing and normalising of chat ids and message ids in the forms the Chat API uses.
package chat
