"""Component ids of the console, one prefix per feature so tabs never collide."""

from __future__ import annotations

# layout (shell)
SHELL_TABS = "shell-tabs"
SHELL_THEME = "shell-theme"
SHELL_THEME_STORE = "shell-theme-store"
SHELL_SOUND = "shell-sound"  # chime when an alert arrives (on unless switched off; remembered per browser)
SHELL_BADGE = "shell-badge"  # the live data's state and age, written by assets/smartcity.js
SHELL_USER = "shell-user"  # who is signed in, and their role
SHELL_LOGOUT = "shell-logout"
SHELL_MOUNTED = "shell-mounted"  # the lazy tabs built so far
SHELL_SINK = "shell-sink"  # output of side-effect-only clientside callbacks
SHELL_TIME_ZONE = "shell-time-zone"  # the zone the browser prints times in (assets/smartcity.js smartcityTime)

# Live data is in no store: assets/smartcity_live.js holds the city.

# alert inbox (app/console/inbox.py; drawn by assets/smartcity_inbox.js from GET /api/alerts)
INBOX_BELL = "inbox-bell"
INBOX_BELL_BOX = "inbox-bell-box"  # carries the user's role (data-role): who may acknowledge
INBOX_COUNT = "inbox-count"  # the unread count, from the server
INBOX_STALE = "inbox-stale"  # "alerts stale: no answer for …" while the alert log does not answer
INBOX_SOUND_NOTE = "inbox-sound-note"  # shown while the browser holds sound back (autoplay)
INBOX_PANEL = "inbox-panel"
INBOX_VIEW = "inbox-view"  # "unread" or "all"
INBOX_LIST = "inbox-list"
INBOX_FEEDBACK = "inbox-feedback"
INBOX_TOASTS = "inbox-toasts"
INBOX_SINK = "inbox-sink"

# zones and rules (app/console/zones.py; assets/smartcity_zones.js, the zones drawn by smartcity_map.js)
ZONE_PANEL = "zone-panel"
ZONE_LIST = "zone-list"
ZONE_DRAW = "zone-draw"
ZONE_NAME = "zone-name"
ZONE_SAVE = "zone-save"
ZONE_CANCEL = "zone-cancel"
ZONE_FEEDBACK = "zone-feedback"
RULE_SECTION = "rule-section"
RULE_NAME = "rule-name"
RULE_KIND = "rule-kind"
RULE_ZONE = "rule-zone"
RULE_VEHICLE_TYPE = "rule-vehicle-type"
RULE_THRESHOLD = "rule-threshold"
RULE_MINUTES = "rule-minutes"
RULE_SEVERITY = "rule-severity"
RULE_ADD = "rule-add"
RULE_FEEDBACK = "rule-feedback"
RULE_LIST = "rule-list"
ZONE_SINK = "zone-sink"
ZONE_PANEL_SINK = "zone-panel-sink"

# overview
OVERVIEW_CARDS = "overview-cards"  # each value: overview-card-<key>, its detail overview-card-<key>-detail
OVERVIEW_RECENT_CLOCK = "overview-recent-clock"
OVERVIEW_RECENT = "overview-recent"  # a tick let through while the tab is shown: redraw the trends
OVERVIEW_TREND_VEHICLES = "overview-trend-vehicles"
OVERVIEW_TREND_SPEED = "overview-trend-speed"
OVERVIEW_TREND_CONGESTION = "overview-trend-congestion"
OVERVIEW_TREND_EVENTS = "overview-trend-events"

# map
MAP = "map-map"
MAP_ROADS = "map-roads"
MAP_TYPES = "map-types"
MAP_LAYERS = "map-layers"  # the point layers shown (vehicles, incidents, sensors, stations)
MAP_STYLE = "map-style"  # what the points look like (map.map_style), read by smartcity_map.js
MAP_COLOUR_BY = "map-colour-by"  # vehicles coloured by "type" or "speed"
MAP_SPEED_LEGEND = "map-speed-legend"
MAP_LEGEND = "map-legend"  # what the roads', sensors', incidents' and stations' colours mean
MAP_DETAILS = "map-details"
MAP_VEHICLE_STATUS = "map-vehicle-status"  # the details' status in words (assets/smartcity_details.js)
MAP_FIND = "map-find"  # the search box (assets/smartcity_find.js)
MAP_FIND_RESULTS = "map-find-results"
MAP_REPLAY = "map-replay"  # "Replay last hour" of the selected vehicle (assets/smartcity_replay.js)
MAP_SELECTED = "map-selected"
MAP_FOLLOW = "map-follow"

# emergency
EMERGENCY_TABLE = "emergency-table"  # an AG Grid the live client fills; one row selected at a time
EMERGENCY_ALERT = "emergency-alert"
EMERGENCY_FEEDBACK = "emergency-feedback"
EMERGENCY_AUDIT = "emergency-audit"
EMERGENCY_ACT = "emergency-act"  # pattern-matching type: {"type": EMERGENCY_ACT, "index": EMERGENCY_ACK | _RESOLVE}
EMERGENCY_ACK = "emergency-ack"  # the actions on the grid's selected incident
EMERGENCY_RESOLVE = "emergency-resolve"
EMERGENCY_LOCATE = "emergency-locate"
EMERGENCY_VIEW = "emergency-view"  # the Active / Resolved switch
EMERGENCY_ACTIVE_PANE = "emergency-active-pane"
EMERGENCY_RESOLVED_PANE = "emergency-resolved-pane"
EMERGENCY_RESOLVED_TABLE = "emergency-resolved"  # an AG Grid the server fills from the speed layer
EMERGENCY_RESOLVED_TYPE = "emergency-resolved-type"  # its filters
EMERGENCY_RESOLVED_SEVERITY = "emergency-resolved-severity"
EMERGENCY_RESOLVED_SINCE = "emergency-resolved-since"
EMERGENCY_DETAILS = "emergency-details"  # the selected incident: notes and history
EMERGENCY_EDIT = "emergency-edit"  # pattern-matching type: {"type": EMERGENCY_EDIT, "index": EMERGENCY_ASSIGN | _NOTE}
EMERGENCY_ASSIGN = "emergency-assign"
EMERGENCY_NOTE = "emergency-note"
EMERGENCY_ASSIGNEE = "emergency-assignee"  # the user name typed for Assign
EMERGENCY_NOTE_TEXT = "emergency-note-text"
EMERGENCY_CONFIRM = "emergency-confirm"  # the dialog confirming a resolution
EMERGENCY_CONFIRM_TEXT = "emergency-confirm-text"
EMERGENCY_CONFIRM_YES = "emergency-confirm-yes"
EMERGENCY_CONFIRM_NO = "emergency-confirm-no"
EMERGENCY_CONFIRM_ID = "emergency-confirm-id"  # the incident the open dialog is about

# traffic
TRAFFIC_TABLE = "traffic-table"  # an AG Grid the live client fills
TRAFFIC_WORST = "traffic-worst"
TRAFFIC_CONGESTION = "traffic-congestion"  # congestion over the last hours, from the lake
TRAFFIC_RECENT_CLOCK = "traffic-recent-clock"
TRAFFIC_RECENT = "traffic-recent"  # a tick let through while the tab is shown: read the lake again

# weather
WEATHER_TABLE = "weather-table"  # an AG Grid the live client fills
WEATHER_ADVISORIES = "weather-advisories"
WEATHER_CHART = "weather-chart"
WEATHER_TEMPERATURE = "weather-temperature"  # per station over the last hours, from the lake
WEATHER_PRECIPITATION = "weather-precipitation"
WEATHER_WIND = "weather-wind"
WEATHER_AQI = "weather-aqi"
WEATHER_RECENT_CLOCK = "weather-recent-clock"
WEATHER_RECENT = "weather-recent"

# history
HISTORY_PRESET = "history-preset"
HISTORY_START = "history-start"
HISTORY_END = "history-end"
HISTORY_IMAGE_FORMAT = "history-image-format"
HISTORY_LOAD = "history-load"
HISTORY_MESSAGE = "history-message"
HISTORY_TRAFFIC = "history-traffic"
HISTORY_INCIDENTS = "history-incidents"
HISTORY_WEATHER = "history-weather"
HISTORY_TRAFFIC_LINKS = "history-traffic-links"
HISTORY_INCIDENTS_LINKS = "history-incidents-links"
HISTORY_WEATHER_LINKS = "history-weather-links"
HISTORY_VEHICLE = "history-vehicle"
HISTORY_ROUTE_LOAD = "history-route-load"
HISTORY_PLAY = "history-play"
HISTORY_MAP = "history-map"
HISTORY_ROUTE = "history-route"
HISTORY_POSITION = "history-position"
HISTORY_REPLAY = "history-replay"
HISTORY_ROUTE_INFO = "history-route-info"
HISTORY_ROUTE_LINKS = "history-route-links"
HISTORY_ROUTE_DATA = "history-route-data"
HISTORY_CLOCK = "history-clock"

# system
SYSTEM_STREAMS = "system-streams"
SYSTEM_STATUS = "system-status"
SYSTEM_LIVE = "system-live"  # the live counters, drawn in the browser from the live message
SYSTEM_RECENT_CLOCK = "system-recent-clock"
SYSTEM_RECENT = "system-recent"  # a tick let through while the tab is shown: read the pipeline's status

# tab values (dbc.Tab tab_id)
TAB_OVERVIEW = "tab-overview"
TAB_MAP = "tab-map"
TAB_EMERGENCY = "tab-emergency"
TAB_TRAFFIC = "tab-traffic"
TAB_WEATHER = "tab-weather"
TAB_HISTORY = "tab-history"
TAB_SYSTEM = "tab-system"
