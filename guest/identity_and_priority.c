// Identity, priority and resource-usage calls as Linux answers them to this user: getresuid,
// getgroups (size rules), setuid to the current id, get/setpriority (EINVAL, ESRCH), getrusage, times.
#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <grp.h>
int main(){ uid_t r,e,s; getresuid(&r,&e,&s); printf("resuid %d %d %d\n",r,e,s); gid_t g[64]; int n=getgroups(64,g); printf("groups %d %d\n", n, getgroups(0,0));
 errno=0; printf("getgroups(1) %d %s\n", getgroups(n>1?1:0,g), strerror(errno));
 printf("setuid(self) %d\n", setuid(getuid())); errno=0; printf("getpriority %d %d\n", getpriority(PRIO_PROCESS,0), errno);
 printf("setpriority 5: %d\n", setpriority(PRIO_PROCESS,0,5)); printf("getpriority %d\n", getpriority(PRIO_PROCESS,0));
 errno=0; printf("bad which %d %s\n", getpriority(7,0), strerror(errno)); errno=0; printf("no such pid %d %s\n", getpriority(PRIO_PROCESS,999999), strerror(errno));
 struct rusage u; errno=0; printf("getrusage bad %d %s\n", getrusage(5,&u), strerror(errno)); printf("getrusage self %d\n", getrusage(RUSAGE_SELF,&u));
 struct tms t; printf("times ok %d\n", times(&t) > 0);
}
