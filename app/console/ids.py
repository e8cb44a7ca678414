"""Component ids of the console, one prefix per feature so tabs never collide."""

from __future__ import annotations

# layout (shell)
SHELL_TABS = "shell-tabs"
SHELL_CLOCK = "shell-clock"
SHELL_TICK = "shell-tick"  # a clock tick let through: at most one poll in flight
SHELL_THEME = "shell-theme"
SHELL_THEME_STORE = "shell-theme-store"
SHELL_SOUND = "shell-sound"  # play a tone when a high-severity incident raises an alert
SHELL_BADGE = "shell-badge"
SHELL_USER = "shell-user"  # who is signed in, and their role
SHELL_LOGOUT = "shell-logout"
SHELL_POLLED = "shell-polled"
SHELL_POLL_TABS = "shell-poll-tabs"  # the tabs polled while push is live (feed.polled_tabs)
SHELL_MOUNTED = "shell-mounted"  # the lazy tabs built so far
SHELL_PUSH = "shell-push"  # WebSocket state set by smartcity.js: "live" | "down" | None (never connected)
SHELL_SINK = "shell-sink"  # output of side-effect-only clientside callbacks

# feed: the per-second data every tab reads (polled; the map's vehicles move by push when it is up)
FEED_SUMMARY = "feed-summary"
FEED_VEHICLES = "feed-vehicles"
FEED_INCIDENTS = "feed-incidents"
FEED_TRAFFIC = "feed-traffic"
FEED_WEATHER = "feed-weather"
FEED_SYSTEM = "feed-system"

# overview
OVERVIEW_CARDS = "overview-cards"
OVERVIEW_VIEW = "overview-view"
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
MAP_DETAILS = "map-details"
MAP_SELECTED = "map-selected"
MAP_FOLLOW = "map-follow"
MAP_REFRESH = "map-refresh"  # the summary, while a selection on the shown map needs refreshing

# emergency
EMERGENCY_TABLE = "emergency-table"
EMERGENCY_VIEW = "emergency-view"
EMERGENCY_SEEN = "emergency-seen"
EMERGENCY_ALERT = "emergency-alert"
EMERGENCY_SOUND_SINK = "emergency-sound-sink"
EMERGENCY_FEEDBACK = "emergency-feedback"
EMERGENCY_AUDIT = "emergency-audit"
EMERGENCY_ACK = "emergency-ack"  # pattern-matching type: {"type": EMERGENCY_ACK, "index": incident id}
EMERGENCY_RESOLVE = "emergency-resolve"
EMERGENCY_LOCATE = "emergency-locate"

# traffic
TRAFFIC_TABLE = "traffic-table"
TRAFFIC_VIEW = "traffic-view"
TRAFFIC_WORST = "traffic-worst"
TRAFFIC_CONGESTION = "traffic-congestion"  # congestion over the last hours, from the lake
TRAFFIC_RECENT_CLOCK = "traffic-recent-clock"
TRAFFIC_RECENT = "traffic-recent"  # a tick let through while the tab is shown: read the lake again

# weather
WEATHER_TABLE = "weather-table"
WEATHER_VIEW = "weather-view"
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
SYSTEM_VIEW = "system-view"
SYSTEM_STATUS = "system-status"

# tab values (dbc.Tab tab_id)
TAB_OVERVIEW = "tab-overview"
TAB_MAP = "tab-map"
TAB_EMERGENCY = "tab-emergency"
TAB_TRAFFIC = "tab-traffic"
TAB_WEATHER = "tab-weather"
TAB_HISTORY = "tab-history"
TAB_SYSTEM = "tab-system"
