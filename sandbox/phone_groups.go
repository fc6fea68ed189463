package sandbox

import (
	"slices"
	"strings"
	"time"

	"go.mau.fi/whatsmeow/types"
)

// GroupInfo is a group as the admin API shows it.
type GroupInfo struct {
	ID           string             `json:"id"`
	Subject      string             `json:"subject"`
	Creator      string             `json:"creator,omitempty"`
	Created      time.Time          `json:"created"`
	Description  string             `json:"description,omitempty"`
	Participants []GroupParticipant `json:"participants"`
	// Admins lists the participants (by phone-number JID) who are admins or the super admin.
	Admins []string `json:"admins"`
}

// GroupParticipant is one member of a group.
type GroupParticipant struct {
	JID        string `json:"jid"`
	LID        string `json:"lid"`
	Admin      bool   `json:"admin"`
	SuperAdmin bool   `json:"superAdmin"`
}

// Groups lists the groups the phone's account is in, sorted by id. It reads the same description
// of each group that whatsmeow clients get, so both always agree on members and admins.
func (p *Phone) Groups() []GroupInfo {
	s := p.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []GroupInfo{}
	for _, g := range s.groups {
		if !g.has(p.acct.Phone) {
			continue
		}
		node := s.groupNode(g)
		info := GroupInfo{ID: g.jid().String(), Subject: attrString(node.Attrs["subject"]), Created: g.Created,
			Description: g.Description, Participants: []GroupParticipant{}, Admins: []string{}}
		if c, ok := node.Attrs["creator_pn"].(types.JID); ok {
			info.Creator = c.String()
		}
		for _, pn := range node.GetChildrenByTag("participant") {
			kind := attrString(pn.Attrs["type"])
			gp := GroupParticipant{JID: attrString(pn.Attrs["phone_number"]), LID: attrString(pn.Attrs["jid"]),
				Admin: kind == "admin" || kind == "superadmin", SuperAdmin: kind == "superadmin"}
			info.Participants = append(info.Participants, gp)
			if gp.Admin {
				info.Admins = append(info.Admins, gp.JID)
			}
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b GroupInfo) int { return strings.Compare(a.ID, b.ID) })
	return out
}
