-- Argo CD resource health of a portcullis.dev LoadBalancerPolicy, from the status the Portcullis
-- operator writes: status.observedGeneration and the conditions Accepted, ResolvedRefs, Programmed.
-- Install it as argocd-cm's resource.customizations.health.portcullis.dev_LoadBalancerPolicy
-- (docs/gitops.md); cases and expectations: health_test.yaml beside this file.
--
--   Progressing  no status yet, or it describes an older generation than metadata.generation;
--                the certificate is still being issued (ResolvedRefs=False, CertificatePending);
--                the proxies are still taking the new config (Programmed=False, Pending);
--                a condition is missing or Unknown
--   Degraded     Accepted=False or ResolvedRefs=False (any other reason), or Programmed=False
--                with a reason other than Pending
--   Healthy      Accepted, ResolvedRefs and Programmed all True for the current generation
--
-- Written for Lua 5.1 (Argo CD runs gopher-lua); test/image/argocd-health.test.ts runs it.

local hs = {}

local function progressing(message)
  hs.status = "Progressing"
  hs.message = message
  return hs
end

local function verdict(health, condition)
  hs.status = health
  hs.message = condition.message
  if hs.message == nil or hs.message == "" then
    hs.message = condition.type .. "=" .. condition.status .. " (" .. tostring(condition.reason) .. ")"
  end
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end

if obj.status == nil or obj.status.conditions == nil or #obj.status.conditions == 0 then
  return progressing("Waiting for the Portcullis operator to report on this policy")
end

local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  return progressing(string.format(
    "Waiting for the Portcullis operator to observe generation %d (status describes %s)",
    generation, observed == nil and "none" or string.format("%d", observed)))
end

local conditions = {}
for _, condition in ipairs(obj.status.conditions) do
  if condition.type ~= nil then
    conditions[condition.type] = condition
  end
end

-- A condition set for an older generation than the one the status claims is stale too.
for _, name in ipairs({ "Accepted", "ResolvedRefs", "Programmed" }) do
  local condition = conditions[name]
  if condition ~= nil and generation ~= nil and condition.observedGeneration ~= nil
      and condition.observedGeneration < generation then
    return progressing(string.format(
      "Waiting for the Portcullis operator to update condition %s to generation %d", name, generation))
  end
end

local accepted = conditions["Accepted"]
local resolved = conditions["ResolvedRefs"]
local programmed = conditions["Programmed"]

if accepted ~= nil and accepted.status == "False" then
  return verdict("Degraded", accepted)
end
if resolved ~= nil and resolved.status == "False" then
  if resolved.reason == "CertificatePending" then
    return verdict("Progressing", resolved)
  end
  return verdict("Degraded", resolved)
end
if programmed ~= nil and programmed.status == "False" then
  if programmed.reason == "Pending" then
    return verdict("Progressing", programmed)
  end
  return verdict("Degraded", programmed)
end

for _, name in ipairs({ "Accepted", "ResolvedRefs", "Programmed" }) do
  local condition = conditions[name]
  if condition == nil or condition.status ~= "True" then
    return progressing(string.format("Waiting for condition %s to be True", name))
  end
end

return verdict("Healthy", programmed)
