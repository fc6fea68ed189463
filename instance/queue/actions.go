package queue

import "slices"

// Kinds of actions: queued changes that are not messages (GET /showActionsQueue). The item's chat
// id is the group acted on (none for a join by invite code).
const (
	KindGroupParticipants = "group_participants"
	KindGroupJoin         = "group_join"
	KindGroupLeave        = "group_leave"
	KindGroupSubject      = "group_subject"
	KindGroupDescription  = "group_description"
)

// actionKinds lists the kinds that are actions, in a stable order.
var actionKinds = []string{KindGroupParticipants, KindGroupJoin, KindGroupLeave, KindGroupSubject,
	KindGroupDescription}

// ActionKinds returns the kinds of actions.
func ActionKinds() []string { return slices.Clone(actionKinds) }

// IsAction reports whether kind is an action rather than a message.
func IsAction(kind string) bool { return slices.Contains(actionKinds, kind) }

// Participant changes of GroupParticipants.Action.
const (
	ParticipantAdd     = "add"
	ParticipantRemove  = "remove"
	ParticipantPromote = "promote"
	ParticipantDemote  = "demote"
)

// GroupParticipants adds, removes, promotes or demotes members of a group.
type GroupParticipants struct {
	// Action is one of the Participant constants.
	Action string `json:"action"`
	// Participants are chat ids of people (<digits>@c.us or <id>@lid).
	Participants []string `json:"participants"`
}

// Kind implements Payload.
func (GroupParticipants) Kind() string { return KindGroupParticipants }

// GroupJoin joins a group by the code of its invite link.
type GroupJoin struct {
	Code string `json:"code"`
}

// Kind implements Payload.
func (GroupJoin) Kind() string { return KindGroupJoin }

// GroupLeave leaves the item's group.
type GroupLeave struct{}

// Kind implements Payload.
func (GroupLeave) Kind() string { return KindGroupLeave }

// GroupSubject renames the item's group.
type GroupSubject struct {
	Subject string `json:"subject"`
}

// Kind implements Payload.
func (GroupSubject) Kind() string { return KindGroupSubject }

// GroupDescription sets (or, empty, deletes) the item's group's description.
type GroupDescription struct {
	Description string `json:"description"`
}

// Kind implements Payload.
func (GroupDescription) Kind() string { return KindGroupDescription }
