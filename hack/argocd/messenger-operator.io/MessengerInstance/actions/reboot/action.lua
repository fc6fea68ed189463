-- Restart the instance pod once: a new value of messenger-operator.io/reboot is one request
-- (acknowledged in status.lastHandledReboot).
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["messenger-operator.io/reboot"] = os.date("!%Y-%m-%dT%XZ")
return obj
