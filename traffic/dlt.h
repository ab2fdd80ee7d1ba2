/* traffic/dlt.h — libpcap link types that older pcap headers do not name yet (values from the
 * tcpdump.org link-type registry), for the readers that parse frames themselves. */
#ifndef WEFT_TRAFFIC_DLT_H
#define WEFT_TRAFFIC_DLT_H

#include <pcap/pcap.h>

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif

#endif
