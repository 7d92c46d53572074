-- rajoints auto-routing for Orthanc (tested with Debian's Orthanc 1.10.1).
--
-- Sends every hand radiograph that Orthanc stores (Modality CR or DX, Body Part Examined
-- HAND or FINGER, a CR or DX image SOP class) to the rajoints node as an asynchronous
-- Orthanc job (POST /modalities/<name>/store), never SendToModality(): on Orthanc 1.10 that
-- call logs a failed C-STORE and still returns, so an image sent while the node is down
-- is lost without a trace. A failed job stays in Orthanc's job list and is resubmitted
-- later, with a back-off, until the node takes the image; nothing is dropped.
--
-- It never routes the node's results (SR and PR instances) or anything the node sent, so
-- there is no loop. Settings come from the "Rajoints" section of Orthanc's configuration
-- (see orthanc-rajoints.json and README.md beside this file).
--
-- How the retry works: Orthanc 1.10's Lua has no timer, and a Lua callback must never
-- wait (every callback, the REST API filter and the DICOM negotiation share one lock). So
-- a failed routing job is remembered, and one background shell process per back-off
-- period ("sleep N; curl -X POST .../jobs/<id>/resubmit") asks Orthanc's own REST API to
-- resubmit the jobs that are due. When one routing job succeeds, the node is back and
-- every waiting job is resubmitted at once. At start-up, failed routing jobs kept by
-- Orthanc ("SaveJobs") are resubmitted too. If a job was dropped from Orthanc's job
-- history meanwhile, a new job for the same instances replaces it.

local config = GetOrthancConfiguration()
local settings = config['Rajoints'] or {}

local function setting(name, default)
  local v = settings[name]
  if v == nil then return default end
  return v
end

local function upper_set(list)
  local s = {}
  for _, v in ipairs(list) do s[string.upper(v)] = true end
  return s
end

-- Symbolic name of the node in "DicomModalities" (or created by Initialize below).
local MODALITY = setting('Modality', 'rajoints')
local MODALITIES = upper_set(setting('Modalities', { 'CR', 'DX' }))
local BODY_PARTS = upper_set(setting('BodyParts', { 'HAND', 'FINGER' }))
-- Optional: also route CR/DX whose Series Description contains one of these words
-- (case-insensitive), as the node's own filter does; empty by default.
local SERIES_WORDS = setting('SeriesDescriptionWords', {})
-- Whole seconds (Lua 5.3 reads JSON numbers as floats: 10 would print as "10.0").
local function whole(x)
  return math.max(1, math.floor(tonumber(x)))
end
local RETRY_MIN = whole(setting('RetryMinSeconds', 10))
local RETRY_MAX = whole(setting('RetryMaxSeconds', 300))

-- The image SOP classes the node stores (its conformance statement, SCP table): CR, DX
-- for presentation, DX for processing. SR, PR and everything else never match.
local IMAGE_CLASSES = {
  ['1.2.840.10008.5.1.4.1.1.1'] = true,
  ['1.2.840.10008.5.1.4.1.1.1.1'] = true,
  ['1.2.840.10008.5.1.4.1.1.1.1.1'] = true,
}

-- Orthanc's REST API as the background retry process reaches it.
local function own_url()
  local url = setting('OrthancUrl', '')
  if url ~= '' then return url end
  local scheme = 'http'
  if config['SslEnabled'] then scheme = 'https' end
  return scheme .. '://127.0.0.1:' .. string.format('%d', math.floor(tonumber(config['HttpPort'] or 8042)))
end
local URL = own_url()

local function trim(s)
  return (string.gsub(s or '', '^%s*(.-)%s*$', '%1'))
end

local function log(msg)
  print('rajoints: ' .. msg)
end

-- The node's AE title, read from Orthanc's modality list.
local node_aet = nil
local function node_aet_now()
  if node_aet == nil then
    local ok, answer = pcall(RestApiGet, '/modalities/' .. MODALITY .. '/configuration')
    if ok and answer ~= nil then
      node_aet = trim(ParseJson(answer)['AET'])
    end
  end
  return node_aet
end

-- Is this stored instance a hand radiograph for the node?
local function is_hand_radiograph(tags, metadata, origin)
  local class = trim(tags['SOPClassUID'] or (metadata and metadata['SopClassUid']))
  if not IMAGE_CLASSES[class] then return false end
  if not MODALITIES[string.upper(trim(tags['Modality']))] then return false end
  -- Never route back what the node sent (it sends only SR and PR, so this is a second lock).
  if origin ~= nil and origin['RequestOrigin'] == 'DicomProtocol'
      and trim(origin['RemoteAet']) == node_aet_now() then
    return false
  end
  if BODY_PARTS[string.upper(trim(tags['BodyPartExamined']))] then return true end
  local description = string.lower(tags['SeriesDescription'] or '')
  for _, word in ipairs(SERIES_WORDS) do
    if string.find(description, string.lower(word), 1, true) then return true end
  end
  return false
end

-- Failed routing jobs waiting for resubmission (job id -> its instance ids), and those
-- handed to the background retry already.
local waiting = {}
local scheduled = {}
local delay = RETRY_MIN
-- os.time() when the scheduled background retry runs; 0 when none is scheduled.
local retry_due = 0

local function is_uuid(s)
  return type(s) == 'string' and string.match(s, '^[%x%-]+$') ~= nil
end

local function shell_quote(s)
  return "'" .. string.gsub(s, "'", "'\\''") .. "'"
end

-- The routing job's instances if `job` is a C-STORE job to the node; nil otherwise.
local function routing_resources(job)
  if job == nil or job['Type'] ~= 'DicomModalityStore' then return nil end
  local content = job['Content'] or {}
  if trim(content['RemoteAet']) ~= node_aet_now() then return nil end
  return content['ParentResources'] or {}
end

local function job_info(job_id)
  local ok, answer = pcall(RestApiGet, '/jobs/' .. job_id)
  if not ok or answer == nil then return nil end
  return ParseJson(answer)
end

-- Sends `resources` to the node in a new asynchronous job.
local function route(resources)
  local body = DumpJson({ Resources = resources, Asynchronous = true }, true)
  local ok, answer = pcall(RestApiPost, '/modalities/' .. MODALITY .. '/store', body)
  if ok and answer ~= nil then
    log('routing ' .. #resources .. ' instance(s) to ' .. MODALITY .. ' in job '
        .. tostring(ParseJson(answer)['ID']))
  else
    log('ERROR: could not create the routing job to ' .. MODALITY .. ': ' .. tostring(answer))
  end
end

-- Resubmits a job that is still failed; routes its instances anew if Orthanc forgot it.
local function resubmit_now(job_id, resources)
  local job = job_info(job_id)
  if job == nil then
    route(resources)
  elseif job['State'] == 'Failure' then
    pcall(RestApiPost, '/jobs/' .. job_id .. '/resubmit', '')
  end
end

-- The shell command that does what resubmit_now does, through the REST API.
local function resubmit_command(job_id, resources)
  local auth = ''
  local user = setting('Username', '')
  if user ~= '' then
    auth = ' -u ' .. shell_quote(user .. ':' .. setting('Password', ''))
  end
  local curl = 'curl -s -k -o /dev/null -X POST' .. auth
  local ids = {}
  for _, r in ipairs(resources) do
    if is_uuid(r) then table.insert(ids, '"' .. r .. '"') end
  end
  local body = '{"Resources":[' .. table.concat(ids, ',') .. '],"Asynchronous":true}'
  -- 404: the job left Orthanc's history; any other error: it is no longer failed.
  return 'if [ "$(' .. curl .. " -w '%{http_code}' "
      .. shell_quote(URL .. '/jobs/' .. job_id .. '/resubmit') .. ')" = 404 ]; then '
      .. curl .. ' -d ' .. shell_quote(body) .. ' '
      .. shell_quote(URL .. '/modalities/' .. MODALITY .. '/store') .. '; fi'
end

-- Starts one background process that resubmits every waiting job after `delay` seconds.
local function schedule_retry()
  if next(waiting) == nil then return end
  local now = os.time()
  -- One retry at a time: jobs failing before it has run wait for the next one.
  if now < retry_due then return end
  -- At most 100 jobs per process (a shell argument is limited to 128 KiB); the others
  -- wait for the next one.
  local commands = {}
  local count = 0
  for job_id, resources in pairs(waiting) do
    if count == 100 then break end
    table.insert(commands, resubmit_command(job_id, resources))
    scheduled[job_id] = resources
    count = count + 1
  end
  for job_id, _ in pairs(scheduled) do waiting[job_id] = nil end
  -- bash first closes every descriptor inherited from Orthanc but stdin/out/err: it must
  -- not hold Orthanc's listening DICOM socket (or a peer's association) while it sleeps.
  local script = 'for fd in /proc/$$/fd/*; do fd=${fd##*/}; '
      .. 'if [ "$fd" -gt 2 ]; then exec {fd}>&-; fi; done; '
      .. string.format('sleep %d; ', delay) .. table.concat(commands, '; ')
  os.execute('bash -c ' .. shell_quote(script) .. ' </dev/null >/dev/null 2>&1 &')
  log('node unreachable: ' .. count .. ' routing job(s) will be resubmitted in '
      .. string.format('%d', delay) .. ' s')
  retry_due = now + delay
  delay = math.min(delay * 2, RETRY_MAX)
end

-- The node answered: every waiting job goes now, and the back-off starts again.
local function resubmit_waiting()
  delay = RETRY_MIN
  retry_due = 0
  local jobs = waiting
  for job_id, resources in pairs(scheduled) do jobs[job_id] = resources end
  waiting = {}
  scheduled = {}
  for job_id, resources in pairs(jobs) do resubmit_now(job_id, resources) end
end

function Initialize()
  -- Declare the node from the "Rajoints" section unless DicomModalities already has it.
  local node = settings['Node']
  if node ~= nil then
    local known = pcall(RestApiGet, '/modalities/' .. MODALITY .. '/configuration')
    if not known then
      RestApiPut('/modalities/' .. MODALITY, DumpJson(node, true))
    end
  end
  if node_aet_now() == nil then
    log('ERROR: no DICOM modality "' .. MODALITY .. '": nothing will be routed')
    return
  end
  if not os.execute('command -v curl >/dev/null 2>&1') then
    log('WARNING: curl not found: failed routing jobs are resubmitted only when another '
        .. 'one succeeds or Orthanc restarts (apt-get install curl)')
  end
  -- Failed routing jobs from before the restart: resubmit them now.
  local ok, answer = pcall(RestApiGet, '/jobs?expand')
  if ok and answer ~= nil then
    for _, job in ipairs(ParseJson(answer)) do
      local resources = routing_resources(job)
      if resources ~= nil and job['State'] == 'Failure' then
        log('resubmitting routing job ' .. job['ID'] .. ' left failed before the restart')
        resubmit_now(job['ID'], resources)
      end
    end
  end
  log('routing CR/DX hand radiographs to ' .. MODALITY .. ' (' .. node_aet_now() .. ')')
end

function OnStoredInstance(instanceId, tags, metadata, origin)
  if node_aet_now() ~= nil and is_hand_radiograph(tags, metadata, origin) then
    route({ instanceId })
  end
  schedule_retry()
end

function OnJobFailure(jobId)
  local job = job_info(jobId)
  local resources = routing_resources(job)
  if resources == nil or not is_uuid(jobId) then return end
  log('routing job ' .. jobId .. ' failed: ' .. tostring(job['ErrorDescription']))
  scheduled[jobId] = nil
  waiting[jobId] = resources
  schedule_retry()
end

function OnJobSuccess(jobId)
  if routing_resources(job_info(jobId)) ~= nil then
    scheduled[jobId] = nil
    resubmit_waiting()
  else
    schedule_retry()
  end
end
