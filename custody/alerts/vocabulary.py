"""Words that are never a name, and the markers after which a name is expected.

The scanner replaces the word after a host or user marker ("on esx07", "by jdoe",
"Account Name: jsmith") unless it is one of these words or has a shape that must
stay readable (a number, an interface, a time). The list is what alert text in
English says after such a marker; a word missing from it is replaced, which is the
safe way to be wrong.
"""

from __future__ import annotations

_FUNCTION = """
a an the this that these those it its is are was were be been being am has have had do does did
done not no nor none and or but if then else than so as at by for from in into of off on onto
out over per to up down via with within without while when where which who whom whose what why
how all any each every both either neither some such only own same other another more most less
least few many much several can could may might must shall should will would about above after
again against along among around because before behind below beneath beside between beyond
during except inside near next outside since through throughout till toward towards under until
upon whether yet also still just already ever never now once here there too very again anymore
i we you he she they me us him her them my our your their mine ours yours theirs
one two three four five six seven eight nine ten first second third last new old
"""
_STATES = """
ok okay up down unknown unreachable reachable critical crit warning warn info information
informational notice debug error err errors fatal alert alerts emergency emerg major minor high low
average disaster normal degraded failed failure failing fail fails success successful succeeded
passed pass firing resolved recovered recovery problem problems pending active inactive enabled
disabled online offline running stopped started starting stopping restarted restarting ready
flapping acknowledged ack unacknowledged cleared clear raised open opened closed close timeout
timed expired expiring expires valid invalid true false yes none null nan inf full empty missing
present absent lost established idle connected disconnected blocked denied allowed accepted
rejected dropped permitted deny allow accept reject drop drops dropped changed change changes
state status firing silenced inhibited suppressed red amber green yellow orange
"""
_NOUNS = """
interface interfaces link links line lines port ports protocol protocols channel channels vlan
vlans tunnel tunnels neighbor neighbour neighbors neighbours peer peers session sessions adjacency
route routes routing table tables address addresses network networks subnet subnets gateway
traffic packet packets loss latency jitter bandwidth throughput utilization utilisation usage load
cpu cpus core cores memory mem ram swap disk disks drive drives volume volumes filesystem
partition partitions inode inodes space storage raid array controller battery batteries power
supply supplies psu fan fans temperature temp sensor sensors voltage current module modules slot
slots chassis card cards transceiver optic optics sfp firmware software hardware image version
release build update updates upgrade patch license licence certificate certificates cert key keys
config configuration settings setting policy policies rule rules object objects service services
process processes daemon thread threads job jobs task tasks queue queues backup backups snapshot
snapshots replication sync database databases query queries request requests response responses
connection connections socket sockets handshake authentication authorization auth login logins
logon logoff logout password credentials user users account accounts group groups role roles
member members domain domains host hosts server servers node nodes cluster clusters instance
instances device devices system systems machine machines computer workstation client clients
console terminal shell command commands script scripts file files directory folder path log logs
logging event events message messages alarm alarms trap traps threshold thresholds value values
metric metrics counter counters rate rates time times date day days hour hours minute minutes
second seconds week weeks month months year years uptime downtime duration period window
check checks probe probes ping icmp tcp udp http https ssh telnet snmp dns dhcp ntp smtp ftp tftp
ldap radius tacacs syslog bgp ospf eigrp isis rip lldp cdp stp lacp vrrp hsrp ipsec ssl tls vpn
nat acl qos mpls arp ipv4 ipv6 ip mac web site zone zones area lan wan dmz mgmt management
wireless wifi radio ap aps client ssid channel signal noise frequency level levels count total
max min avg average mean sum size free used available capacity percent percentage ratio limit
limits quota error code reason cause source destination target local remote internal external
primary secondary standby master slave leader follower member vm vms container containers pod pods
host-based agent agents collector exporter scrape target targets endpoint endpoints url link
health healthcheck heartbeat watchdog reboot reload restart shutdown boot startup poweroff
security audit violation attack intrusion threat virus malware spam scan attempt attempts
trigger triggers item items template templates dashboard panel query expression graph notification
notifications mail email e-mail phone sms call contact contacts ticket tickets incident incidents
summary description details detail note notes comment comments subject title name type kind
mode option options parameter parameters argument arguments field fields label labels tag tags
id identifier number serial model vendor product unit units bytes byte bits bit packets frames
kb mb gb tb kib mib gib tib kbps mbps gbps pps ms us ns
"""
_VERBS = """
is was has had went goes go going gone get gets got getting set sets setting reset resets run runs
ran reach reached reaching connect connected connecting respond responded responding resolve
resolved resolving send sent sending receive received receiving start starts stop stops
establish established establishing authenticate authenticated authenticating load loaded loading
open opened write written writing read reading bind bound allocate allocated register registered
retry retried retrying exceed exceeded exceeds exceeding reach reaches detect detected detecting
report reported reporting return returned returning expect expected expecting become became
remain remained remains keep kept move moved moving transition transitioned transitioning
configure configured configuring modify modified delete deleted create created add added remove
removed update updated install installed apply applied save saved copy copied restore restored
execute executed invoke invoked trigger triggered recover recovered fix fixed clear cleared
lose losing gain gained rise rising fall falling drop increase increased decrease decreased
reboot rebooted reload reloaded restart restarted shutdown rebooting log logged login logged
see seen show shows shown check checked checking contact contacted use used using need needs
require required requires allow allowed deny denied refuse refused close closed lock locked
unlock unlocked expire expired renew renewed verify verified validate validated match matched
please investigate investigating unable able cannot can't won't didn't doesn't isn't wasn't
"""
_TIME = """
mon tue wed thu fri sat sun monday tuesday wednesday thursday friday saturday sunday
jan feb mar apr may jun jul aug sep sept oct nov dec january february march april june july
august september october november december today yesterday tomorrow now ago utc gmt cet cest
est edt pst pdt am pm
"""
_PRODUCTS = """
cisco ios ios-xe iosxe nx-os nxos ios-xr iosxr juniper junos junos-os fortinet fortigate fortios
mikrotik routeros palo alto paloalto pan-os panos ubiquiti unifi edgeos arista eos huawei vrp
comware hpe aruba dell linux windows unix debian ubuntu centos rhel vmware esxi vcenter hyper-v
prometheus alertmanager grafana zabbix nagios icinga librenms prtg observium checkmk netbox
node_exporter blackbox_exporter snmp_exporter kubernetes docker openssh sshd systemd cron kernel
apache nginx iis postgres postgresql mysql mariadb redis microsoft google amazon azure aws
"""
_MORE = """
untrusted trusted unauthorized authorized unknown invalid valid upstream downstream toner
ink paper lockout design standalone ha s3 cloud backup backups
nightly daily weekly monthly hourly local remote primary secondary peer bgp ospf neighbor
internet uplink downlink trunk access core edge distribution spine leaf wan lan dmz guest
battery mains utility generator ups inverter charger fan fans psu supply chassis slot
fabric cluster quorum witness standby active passive failover failback sync async
replica replicas master slave leader follower vip pool pools member members backend frontend
loadbalancer proxy firewall router switch gateway controller appliance sensor probe collector
disk memory swap cpu load queue mailbox domain tenant forest site zone region
console serial aux vty line telnet ssh http https api web portal dashboard grafana
expected unexpected normal abnormal high low medium ok critical warning degraded
design default custom manual automatic auto scheduled unscheduled planned unplanned
itself themselves yourself ourselves something nothing anything everything someone nobody
"""
_MARKER_WORDS = """
host hostname server node computer workstation device from to on by user username login account
"""

NOT_NAMES: frozenset[str] = frozenset(
    " ".join((_FUNCTION, _STATES, _NOUNS, _VERBS, _TIME, _PRODUCTS, _MORE, _MARKER_WORDS)).split())

# The word after one of these is a host name unless it is a word above or has a safe shape.
HOST_MARKERS = frozenset({"host", "hosts", "hostname", "server", "servers", "node", "nodes",
                          "computer", "workstation", "device", "from", "to", "on",
                          "machine"})
# ... and after one of these, a user name.
USER_MARKERS = frozenset({"user", "users", "username", "login", "account", "accounts", "by",
                          "logon", "owner", "uid", "administrator"})
# After these, a dotted number is a version, not an address.
VERSION_MARKERS = frozenset({"version", "ver", "release", "firmware", "fw", "build", "software",
                             "image", "os", "v", "rev", "revision", "bios", "kernel"})
# Parts of dotted field names (Elastic Common Schema and the like): host.name, log.level.
FIELD_WORDS = frozenset("""
winlog ecs event provider channel code action outcome dataset module kind category original
observer agent ecs labels log file origin syslog facility severity priority hostname fqdn
network direction transport application geo organization related hash process pid parent
executable args user_agent tls ssl server client destination source url domain registered
top_level_domain subdomain scheme path query fragment port ip mac bytes packets http request
response body status_code method version os platform family kernel architecture cloud
provider region instance account project container image runtime orchestrator cluster
namespace resource rule ruleset threat tactic technique vulnerability score message tags
timestamp data event_data user_data computer_name record_id opcode task keywords activity_id
""".split())
MAC_MARKERS = frozenset({"mac", "hwaddr", "lladdr", "ether", "bssid", "mac-address", "macaddr"})
