-- Argo CD resource actions of a MessengerInstance: reboot and logout set the request annotations
-- the operator and the instance act on once per new value. Install as
-- resource.customizations.actions.messenger-operator.io_MessengerInstance (docs/gitops.md).
local actions = {}
local deleting = obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil
local suspended = obj.spec ~= nil and obj.spec.suspend == true
actions["reboot"] = { ["disabled"] = deleting or suspended }
actions["logout"] = { ["disabled"] = deleting or suspended }
return actions
