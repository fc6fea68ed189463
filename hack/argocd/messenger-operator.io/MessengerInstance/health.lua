-- Argo CD health check for messenger-operator.io/MessengerInstance.
-- Install it in argocd-cm as resource.customizations.health.messenger-operator.io_MessengerInstance
-- (docs/gitops.md). It reads the kstatus-style conditions the operator writes (Ready, Reconciling,
-- Stalled) and the Authenticated condition the instance writes.
local hs = {}

local function condition(ctype)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

local function say(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

-- Reasons of the Authenticated condition that only a person can fix (scan again, appeal a ban,
-- upgrade the image).
local broken = { LoggedOut = "logged out", Banned = "banned", Outdated = "client outdated" }

if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Being deleted"
  return hs
end

if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = say(stalled, "Stalled: " .. tostring(stalled.reason))
  return hs
end

local ready = condition("Ready")
local suspended = obj.spec ~= nil and obj.spec.suspend == true

if suspended then
  if ready ~= nil and ready.status == "True" then
    hs.status = "Healthy"
    hs.message = say(ready, "Suspended")
  else
    hs.status = "Progressing"
    hs.message = say(ready, "Suspending")
  end
  return hs
end

local auth = condition("Authenticated")
if auth ~= nil and auth.status == "False" and broken[auth.reason] ~= nil then
  hs.status = "Degraded"
  hs.message = "Account " .. broken[auth.reason] .. ": " .. say(auth, auth.reason)
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = say(ready, "Ready")
  return hs
end

local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = say(reconciling, "Reconciling")
  return hs
end

if ready == nil or ready.status == "Unknown" or ready.reason == "AwaitingAuthentication" then
  hs.status = "Progressing"
  if obj.status.accountStatus == "got qr code" then
    hs.message = "Waiting for the QR code to be scanned (status.qrCode)"
  else
    hs.message = say(ready, "Waiting for the instance")
  end
  return hs
end

hs.status = "Degraded"
hs.message = say(ready, "Not ready: " .. tostring(ready.reason))
return hs
