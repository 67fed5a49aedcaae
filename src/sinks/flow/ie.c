#include "sinks/flow/ie.h"

#include <string.h>

#define E(n, i, t, l, s, v) {#n, i, 0, t, l, s, v, 0}
#define V NURS_IE_VARLEN

/* A subset of the IANA registry: what conntrack can fill, what exporters
 * commonly send beside it, and what a script may fill itself. Sorted by id. */
static const struct nurs_ie elements[] = {
    E(octetDeltaCount, 1, IE_T_U64, 8, FS_OCTETS, 0),
    E(packetDeltaCount, 2, IE_T_U64, 8, FS_PACKETS, 0),
    E(deltaFlowCount, 3, IE_T_U64, 8, FS_NONE, 0),
    E(protocolIdentifier, 4, IE_T_U8, 1, FS_PROTO, 0),
    E(ipClassOfService, 5, IE_T_U8, 1, FS_NONE, 0),
    E(tcpControlBits, 6, IE_T_U16, 2, FS_NONE, 0),
    E(sourceTransportPort, 7, IE_T_U16, 2, FS_SPORT, 0),
    E(sourceIPv4Address, 8, IE_T_IPV4, 4, FS_SRC_ADDR, 4),
    E(sourceIPv4PrefixLength, 9, IE_T_U8, 1, FS_NONE, 0),
    E(ingressInterface, 10, IE_T_U32, 4, FS_IN_IF, 0),
    E(destinationTransportPort, 11, IE_T_U16, 2, FS_DPORT, 0),
    E(destinationIPv4Address, 12, IE_T_IPV4, 4, FS_DST_ADDR, 4),
    E(destinationIPv4PrefixLength, 13, IE_T_U8, 1, FS_NONE, 0),
    E(egressInterface, 14, IE_T_U32, 4, FS_OUT_IF, 0),
    E(ipNextHopIPv4Address, 15, IE_T_IPV4, 4, FS_NONE, 0),
    E(bgpSourceAsNumber, 16, IE_T_U32, 4, FS_NONE, 0),
    E(bgpDestinationAsNumber, 17, IE_T_U32, 4, FS_NONE, 0),
    E(bgpNextHopIPv4Address, 18, IE_T_IPV4, 4, FS_NONE, 0),
    E(flowEndSysUpTime, 21, IE_T_U32, 4, FS_END_UPTIME, 0),
    E(flowStartSysUpTime, 22, IE_T_U32, 4, FS_START_UPTIME, 0),
    E(postOctetDeltaCount, 23, IE_T_U64, 8, FS_NONE, 0),
    E(postPacketDeltaCount, 24, IE_T_U64, 8, FS_NONE, 0),
    E(minimumIpTotalLength, 25, IE_T_U64, 8, FS_NONE, 0),
    E(maximumIpTotalLength, 26, IE_T_U64, 8, FS_NONE, 0),
    E(sourceIPv6Address, 27, IE_T_IPV6, 16, FS_SRC_ADDR, 6),
    E(destinationIPv6Address, 28, IE_T_IPV6, 16, FS_DST_ADDR, 6),
    E(sourceIPv6PrefixLength, 29, IE_T_U8, 1, FS_NONE, 0),
    E(destinationIPv6PrefixLength, 30, IE_T_U8, 1, FS_NONE, 0),
    E(flowLabelIPv6, 31, IE_T_U32, 4, FS_NONE, 0),
    E(icmpTypeCodeIPv4, 32, IE_T_U16, 2, FS_ICMP_TYPE_CODE, 4),
    E(igmpType, 33, IE_T_U8, 1, FS_NONE, 0),
    E(samplingInterval, 34, IE_T_U32, 4, FS_NONE, 0),
    E(samplingAlgorithm, 35, IE_T_U8, 1, FS_NONE, 0),
    E(flowActiveTimeout, 36, IE_T_U16, 2, FS_NONE, 0),
    E(flowIdleTimeout, 37, IE_T_U16, 2, FS_NONE, 0),
    E(engineType, 38, IE_T_U8, 1, FS_NONE, 0),
    E(engineId, 39, IE_T_U8, 1, FS_NONE, 0),
    E(exportedOctetTotalCount, 40, IE_T_U64, 8, FS_NONE, 0),
    E(exportedMessageTotalCount, 41, IE_T_U64, 8, FS_NONE, 0),
    E(exportedFlowRecordTotalCount, 42, IE_T_U64, 8, FS_NONE, 0),
    E(samplerId, 48, IE_T_U8, 1, FS_NONE, 0),
    E(samplerMode, 49, IE_T_U8, 1, FS_NONE, 0),
    E(samplerRandomInterval, 50, IE_T_U32, 4, FS_NONE, 0),
    E(minimumTTL, 52, IE_T_U8, 1, FS_NONE, 0),
    E(maximumTTL, 53, IE_T_U8, 1, FS_NONE, 0),
    E(fragmentIdentification, 54, IE_T_U32, 4, FS_NONE, 0),
    E(postIpClassOfService, 55, IE_T_U8, 1, FS_NONE, 0),
    E(sourceMacAddress, 56, IE_T_MAC, 6, FS_NONE, 0),
    E(postDestinationMacAddress, 57, IE_T_MAC, 6, FS_NONE, 0),
    E(vlanId, 58, IE_T_U16, 2, FS_NONE, 0),
    E(postVlanId, 59, IE_T_U16, 2, FS_NONE, 0),
    E(ipVersion, 60, IE_T_U8, 1, FS_IP_VERSION, 0),
    E(flowDirection, 61, IE_T_U8, 1, FS_DIRECTION, 0),
    E(ipNextHopIPv6Address, 62, IE_T_IPV6, 16, FS_NONE, 0),
    E(bgpNextHopIPv6Address, 63, IE_T_IPV6, 16, FS_NONE, 0),
    E(ipv6ExtensionHeaders, 64, IE_T_U32, 4, FS_NONE, 0),
    E(destinationMacAddress, 80, IE_T_MAC, 6, FS_NONE, 0),
    E(postSourceMacAddress, 81, IE_T_MAC, 6, FS_NONE, 0),
    E(interfaceName, 82, IE_T_STRING, V, FS_NONE, 0),
    E(interfaceDescription, 83, IE_T_STRING, V, FS_NONE, 0),
    E(octetTotalCount, 85, IE_T_U64, 8, FS_NONE, 0),
    E(packetTotalCount, 86, IE_T_U64, 8, FS_NONE, 0),
    E(fragmentOffset, 88, IE_T_U16, 2, FS_NONE, 0),
    E(forwardingStatus, 89, IE_T_U8, 1, FS_NONE, 0),
    E(applicationDescription, 94, IE_T_STRING, V, FS_NONE, 0),
    E(applicationId, 95, IE_T_OCTETS, V, FS_NONE, 0),
    E(applicationName, 96, IE_T_STRING, V, FS_NONE, 0),
    E(postIpDiffServCodePoint, 98, IE_T_U8, 1, FS_NONE, 0),
    E(exporterIPv4Address, 130, IE_T_IPV4, 4, FS_NONE, 0),
    E(exporterIPv6Address, 131, IE_T_IPV6, 16, FS_NONE, 0),
    E(droppedOctetDeltaCount, 132, IE_T_U64, 8, FS_NONE, 0),
    E(droppedPacketDeltaCount, 133, IE_T_U64, 8, FS_NONE, 0),
    E(droppedOctetTotalCount, 134, IE_T_U64, 8, FS_NONE, 0),
    E(droppedPacketTotalCount, 135, IE_T_U64, 8, FS_NONE, 0),
    E(flowEndReason, 136, IE_T_U8, 1, FS_END_REASON, 0),
    E(commonPropertiesId, 137, IE_T_U64, 8, FS_NONE, 0),
    E(observationPointId, 138, IE_T_U64, 8, FS_NONE, 0),
    E(icmpTypeCodeIPv6, 139, IE_T_U16, 2, FS_ICMP_TYPE_CODE, 6),
    E(lineCardId, 141, IE_T_U32, 4, FS_NONE, 0),
    E(portId, 142, IE_T_U32, 4, FS_NONE, 0),
    E(meteringProcessId, 143, IE_T_U32, 4, FS_NONE, 0),
    E(exportingProcessId, 144, IE_T_U32, 4, FS_NONE, 0),
    E(templateId, 145, IE_T_U16, 2, FS_NONE, 0),
    E(flowId, 148, IE_T_U64, 8, FS_FLOW_ID, 0),
    E(observationDomainId, 149, IE_T_U32, 4, FS_NONE, 0),
    E(flowStartSeconds, 150, IE_T_DT_S, 4, FS_START, 0),
    E(flowEndSeconds, 151, IE_T_DT_S, 4, FS_END, 0),
    E(flowStartMilliseconds, 152, IE_T_DT_MS, 8, FS_START, 0),
    E(flowEndMilliseconds, 153, IE_T_DT_MS, 8, FS_END, 0),
    E(flowStartMicroseconds, 154, IE_T_DT_US, 8, FS_START, 0),
    E(flowEndMicroseconds, 155, IE_T_DT_US, 8, FS_END, 0),
    E(flowStartNanoseconds, 156, IE_T_DT_NS, 8, FS_START, 0),
    E(flowEndNanoseconds, 157, IE_T_DT_NS, 8, FS_END, 0),
    E(systemInitTimeMilliseconds, 160, IE_T_DT_MS, 8, FS_NONE, 0),
    E(flowDurationMilliseconds, 161, IE_T_U32, 4, FS_DURATION_MS, 0),
    E(flowDurationMicroseconds, 162, IE_T_U32, 4, FS_DURATION_US, 0),
    E(observedFlowTotalCount, 163, IE_T_U64, 8, FS_NONE, 0),
    E(ignoredPacketTotalCount, 164, IE_T_U64, 8, FS_NONE, 0),
    E(ignoredOctetTotalCount, 165, IE_T_U64, 8, FS_NONE, 0),
    E(notSentFlowTotalCount, 166, IE_T_U64, 8, FS_NONE, 0),
    E(notSentPacketTotalCount, 167, IE_T_U64, 8, FS_NONE, 0),
    E(notSentOctetTotalCount, 168, IE_T_U64, 8, FS_NONE, 0),
    E(flowKeyIndicator, 173, IE_T_U64, 8, FS_NONE, 0),
    E(icmpTypeIPv4, 176, IE_T_U8, 1, FS_ICMP_TYPE, 4),
    E(icmpCodeIPv4, 177, IE_T_U8, 1, FS_ICMP_CODE, 4),
    E(icmpTypeIPv6, 178, IE_T_U8, 1, FS_ICMP_TYPE, 6),
    E(icmpCodeIPv6, 179, IE_T_U8, 1, FS_ICMP_CODE, 6),
    E(udpSourcePort, 180, IE_T_U16, 2, FS_NONE, 0),
    E(udpDestinationPort, 181, IE_T_U16, 2, FS_NONE, 0),
    E(tcpSourcePort, 182, IE_T_U16, 2, FS_NONE, 0),
    E(tcpDestinationPort, 183, IE_T_U16, 2, FS_NONE, 0),
    E(ipTTL, 192, IE_T_U8, 1, FS_NONE, 0),
    E(ipDiffServCodePoint, 195, IE_T_U8, 1, FS_NONE, 0),
    E(ipPrecedence, 196, IE_T_U8, 1, FS_NONE, 0),
    E(fragmentFlags, 197, IE_T_U8, 1, FS_NONE, 0),
    E(isMulticast, 206, IE_T_U8, 1, FS_NONE, 0),
    E(paddingOctets, 210, IE_T_OCTETS, V, FS_NONE, 0),
    E(collectorIPv4Address, 211, IE_T_IPV4, 4, FS_NONE, 0),
    E(collectorIPv6Address, 212, IE_T_IPV6, 16, FS_NONE, 0),
    E(exportInterface, 213, IE_T_U32, 4, FS_NONE, 0),
    E(exportProtocolVersion, 214, IE_T_U8, 1, FS_NONE, 0),
    E(exportTransportProtocol, 215, IE_T_U8, 1, FS_NONE, 0),
    E(collectorTransportPort, 216, IE_T_U16, 2, FS_NONE, 0),
    E(exporterTransportPort, 217, IE_T_U16, 2, FS_NONE, 0),
    E(tcpSynTotalCount, 218, IE_T_U64, 8, FS_NONE, 0),
    E(tcpFinTotalCount, 219, IE_T_U64, 8, FS_NONE, 0),
    E(tcpRstTotalCount, 220, IE_T_U64, 8, FS_NONE, 0),
    E(tcpPshTotalCount, 221, IE_T_U64, 8, FS_NONE, 0),
    E(tcpAckTotalCount, 222, IE_T_U64, 8, FS_NONE, 0),
    E(tcpUrgTotalCount, 223, IE_T_U64, 8, FS_NONE, 0),
    E(ipTotalLength, 224, IE_T_U64, 8, FS_NONE, 0),
    E(postNATSourceIPv4Address, 225, IE_T_IPV4, 4, FS_POST_SRC_ADDR, 4),
    E(postNATDestinationIPv4Address, 226, IE_T_IPV4, 4, FS_POST_DST_ADDR, 4),
    E(postNAPTSourceTransportPort, 227, IE_T_U16, 2, FS_POST_SPORT, 0),
    E(postNAPTDestinationTransportPort, 228, IE_T_U16, 2, FS_POST_DPORT, 0),
    E(natOriginatingAddressRealm, 229, IE_T_U8, 1, FS_NONE, 0),
    E(natEvent, 230, IE_T_U8, 1, FS_NONE, 0),
    E(initiatorOctets, 231, IE_T_U64, 8, FS_INITIATOR_OCTETS, 0),
    E(responderOctets, 232, IE_T_U64, 8, FS_RESPONDER_OCTETS, 0),
    E(firewallEvent, 233, IE_T_U8, 1, FS_NONE, 0),
    E(ingressVRFID, 234, IE_T_U32, 4, FS_VRF, 0),
    E(egressVRFID, 235, IE_T_U32, 4, FS_VRF, 0),
    E(VRFname, 236, IE_T_STRING, V, FS_NONE, 0),
    E(biflowDirection, 239, IE_T_U8, 1, FS_BIFLOW_DIRECTION, 0),
    E(dot1qVlanId, 243, IE_T_U16, 2, FS_NONE, 0),
    E(ingressPhysicalInterface, 252, IE_T_U32, 4, FS_NONE, 0),
    E(egressPhysicalInterface, 253, IE_T_U32, 4, FS_NONE, 0),
    E(ethernetType, 256, IE_T_U16, 2, FS_NONE, 0),
    E(collectionTimeMilliseconds, 258, IE_T_DT_MS, 8, FS_NONE, 0),
    E(postNATSourceIPv6Address, 281, IE_T_IPV6, 16, FS_POST_SRC_ADDR, 6),
    E(postNATDestinationIPv6Address, 282, IE_T_IPV6, 16, FS_POST_DST_ADDR, 6),
    E(natPoolId, 283, IE_T_U32, 4, FS_NONE, 0),
    E(natPoolName, 284, IE_T_STRING, V, FS_NONE, 0),
    E(greKey, 296, IE_T_U32, 4, FS_NONE, 0),
    E(initiatorPackets, 298, IE_T_U64, 8, FS_INITIATOR_PACKETS, 0),
    E(responderPackets, 299, IE_T_U64, 8, FS_RESPONDER_PACKETS, 0),
    E(observationDomainName, 300, IE_T_STRING, V, FS_NONE, 0),
    E(observationTimeSeconds, 322, IE_T_DT_S, 4, FS_NONE, 0),
    E(observationTimeMilliseconds, 323, IE_T_DT_MS, 8, FS_NONE, 0),
    E(observationTimeMicroseconds, 324, IE_T_DT_US, 8, FS_NONE, 0),
    E(observationTimeNanoseconds, 325, IE_T_DT_NS, 8, FS_NONE, 0),
    E(privateEnterpriseNumber, 346, IE_T_U32, 4, FS_NONE, 0),
    E(ingressInterfaceType, 368, IE_T_U32, 4, FS_NONE, 0),
    E(egressInterfaceType, 369, IE_T_U32, 4, FS_NONE, 0),
    {"userName", 371, 0, IE_T_STRING, V, FS_PROC_USER, 0, NURS_END_LOCAL},
    E(applicationCategoryName, 372, IE_T_STRING, V, FS_NONE, 0),
    E(httpRequestHost, 460, IE_T_STRING, V, FS_NONE, 0),
    /* ulogd2's netfilter elements */
    {"netfilterPrefix", 3, NURS_PEN_NETFILTER, IE_T_STRING, V, FS_NONE, 0, 0},
    {"netfilterMark", 4, NURS_PEN_NETFILTER, IE_T_U32, 4, FS_MARK, 0, 0},
    {"netfilterHook", 5, NURS_PEN_NETFILTER, IE_T_U8, 1, FS_NONE, 0, 0},
    /* nurs-lua's: the process at each end (docs/elements.md) */
#define P(n, i, t, l, s, end) {#n, i, NURS_PEN_NURS, t, l, s, 0, end}
    P(sourceProcessId, 1, IE_T_U32, 4, FS_PROC_PID, NURS_END_SRC),
    P(sourceProcessName, 2, IE_T_STRING, V, FS_PROC_NAME, NURS_END_SRC),
    P(sourceProcessCommandLine, 3, IE_T_STRING, V, FS_PROC_CMDLINE, NURS_END_SRC),
    P(sourceProcessUserId, 4, IE_T_U32, 4, FS_PROC_UID, NURS_END_SRC),
    P(sourceProcessUserName, 5, IE_T_STRING, V, FS_PROC_USER, NURS_END_SRC),
    P(sourceProcessCgroup, 6, IE_T_STRING, V, FS_PROC_CGROUP, NURS_END_SRC),
    P(sourceProcessUnit, 7, IE_T_STRING, V, FS_PROC_UNIT, NURS_END_SRC),
    P(sourceProcessContainerId, 8, IE_T_STRING, V, FS_PROC_CONTAINER, NURS_END_SRC),
    P(destinationProcessId, 11, IE_T_U32, 4, FS_PROC_PID, NURS_END_DST),
    P(destinationProcessName, 12, IE_T_STRING, V, FS_PROC_NAME, NURS_END_DST),
    P(destinationProcessCommandLine, 13, IE_T_STRING, V, FS_PROC_CMDLINE, NURS_END_DST),
    P(destinationProcessUserId, 14, IE_T_U32, 4, FS_PROC_UID, NURS_END_DST),
    P(destinationProcessUserName, 15, IE_T_STRING, V, FS_PROC_USER, NURS_END_DST),
    P(destinationProcessCgroup, 16, IE_T_STRING, V, FS_PROC_CGROUP, NURS_END_DST),
    P(destinationProcessUnit, 17, IE_T_STRING, V, FS_PROC_UNIT, NURS_END_DST),
    P(destinationProcessContainerId, 18, IE_T_STRING, V, FS_PROC_CONTAINER, NURS_END_DST),
#undef P
    {"kernelOverrunTotalCount", NURS_IE_KERNEL_OVERRUNS, NURS_PEN_NURS, IE_T_U64, 8, FS_NONE, 0, 0},
    {"conntrackZone", NURS_IE_CONNTRACK_ZONE, NURS_PEN_NURS, IE_T_U16, 2, FS_ZONE, 0, 0},
};

#define N_ELEMENTS (sizeof elements / sizeof *elements)

static const struct nurs_ie *find_name(const char *name)
{
    for (size_t i = 0; i < N_ELEMENTS; i++)
        if (strcmp(elements[i].name, name) == 0)
            return &elements[i];
    return NULL;
}

/* RFC 5103: reverse elements keep the forward id under enterprise 29305,
 * for every IANA element but those that name no direction. */
static bool has_reverse(const struct nurs_ie *ie)
{
    if (ie->pen != 0)
        return false;
    switch (ie->id) {
    case 136: /* flowEndReason: the flow ended, both directions */
    case 148: /* flowId */
    case 149: /* observationDomainId */
    case 210: /* paddingOctets */
    case 239: /* biflowDirection */
        return false;
    default:
        return true;
    }
}

bool nurs_ie_lookup(const char *name, struct nurs_ie *out)
{
    const struct nurs_ie *ie = find_name(name);
    if (ie) {
        *out = *ie;
        return true;
    }
    /* "reverseOctetDeltaCount" is the reverse of "octetDeltaCount". */
    if (strncmp(name, "reverse", 7) != 0 || name[7] < 'A' || name[7] > 'Z')
        return false;
    char forward[64];
    size_t len = strlen(name + 7);
    if (len >= sizeof forward)
        return false;
    memcpy(forward, name + 7, len + 1);
    forward[0] = (char)(forward[0] - 'A' + 'a');
    /* Names that start with an acronym keep it: reverseVRFname. */
    if (!(ie = find_name(forward))) {
        forward[0] = name[7];
        ie = find_name(forward);
    }
    if (!ie || !has_reverse(ie))
        return false;
    *out = *ie;
    out->name = name;
    out->pen = NURS_PEN_REVERSE;
    return true;
}

const struct nurs_ie *nurs_ie_by_id(uint16_t id, uint32_t pen)
{
    for (size_t i = 0; i < N_ELEMENTS; i++)
        if (elements[i].id == id && elements[i].pen == pen)
            return &elements[i];
    return NULL;
}

bool nurs_ie_length_ok(const struct nurs_ie *ie, unsigned len)
{
    switch ((enum nurs_ie_type)ie->type) {
    case IE_T_U8: case IE_T_S8: case IE_T_BOOL:
        return len == 1;
    case IE_T_U16: case IE_T_S16:
        return len >= 1 && len <= 2;
    case IE_T_U32: case IE_T_S32:
        return len >= 1 && len <= 4;
    case IE_T_U64: case IE_T_S64:
        return len >= 1 && len <= 8;
    case IE_T_F32:
        return len == 4;
    case IE_T_F64:
        return len == 4 || len == 8;
    case IE_T_MAC:
        return len == 6;
    case IE_T_IPV4: case IE_T_DT_S:
        return len == 4;
    case IE_T_IPV6:
        return len == 16;
    case IE_T_DT_MS: case IE_T_DT_US: case IE_T_DT_NS:
        return len == 8;
    case IE_T_OCTETS: case IE_T_STRING:
        return len >= 1 && (len < 0xffff || len == NURS_IE_VARLEN);
    }
    return false;
}

const char *nurs_ie_type_name(enum nurs_ie_type t)
{
    static const char *const names[] = {
        [IE_T_U8] = "unsigned8", [IE_T_U16] = "unsigned16", [IE_T_U32] = "unsigned32",
        [IE_T_U64] = "unsigned64", [IE_T_S8] = "signed8", [IE_T_S16] = "signed16",
        [IE_T_S32] = "signed32", [IE_T_S64] = "signed64", [IE_T_F32] = "float32",
        [IE_T_F64] = "float64", [IE_T_BOOL] = "boolean", [IE_T_MAC] = "macAddress",
        [IE_T_OCTETS] = "octetArray", [IE_T_STRING] = "string", [IE_T_IPV4] = "ipv4Address",
        [IE_T_IPV6] = "ipv6Address", [IE_T_DT_S] = "dateTimeSeconds",
        [IE_T_DT_MS] = "dateTimeMilliseconds", [IE_T_DT_US] = "dateTimeMicroseconds",
        [IE_T_DT_NS] = "dateTimeNanoseconds",
    };
    return (unsigned)t < sizeof names / sizeof *names ? names[t] : "?";
}

unsigned nurs_ie_type_length(enum nurs_ie_type t)
{
    switch (t) {
    case IE_T_U8: case IE_T_S8: case IE_T_BOOL: return 1;
    case IE_T_U16: case IE_T_S16: return 2;
    case IE_T_U32: case IE_T_S32: case IE_T_F32: case IE_T_IPV4: case IE_T_DT_S: return 4;
    case IE_T_MAC: return 6;
    case IE_T_U64: case IE_T_S64: case IE_T_F64: case IE_T_DT_MS: case IE_T_DT_US:
    case IE_T_DT_NS: return 8;
    case IE_T_IPV6: return 16;
    case IE_T_STRING: case IE_T_OCTETS: return NURS_IE_VARLEN;
    }
    return 0;
}
