-- Log the WhatsApp account out once (a fresh QR code follows): a new value of
-- messenger-operator.io/logout is one request (acknowledged in status.lastHandledLogout).
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["messenger-operator.io/logout"] = os.date("!%Y-%m-%dT%XZ")
return obj
