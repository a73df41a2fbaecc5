/*
 * libFuzzer harness for the EC2 response parsers (expat): arbitrary bytes
 * as DescribeRouteTables, DescribeNetworkInterfaces, error and <return>
 * answers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/aws/aws.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aws_rt_list rt;
	struct aws_eni_list en;
	struct aws_error e;
	const char *xml = (const char *)data;

	memset(&rt, 0, sizeof(rt));
	aws_xml_route_tables(xml, size, &rt);    /* lists are freed on any result */
	aws_rt_list_free(&rt);
	memset(&en, 0, sizeof(en));
	aws_xml_enis(xml, size, &en);
	aws_eni_list_free(&en);
	memset(&e, 0, sizeof(e));
	aws_xml_error(xml, size, &e);
	aws_xml_return(xml, size, "CreateRoute");
	return 0;
}
