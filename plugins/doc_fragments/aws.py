# -*- coding: utf-8 -*-
# Copyright: keyops.aws contributors; the option texts are amazon.aws's own (GPL-3.0-or-later)
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWS connection options that AnsibleAWSModule (amazon.aws) adds to every AWS module.

A copy of amazon.aws 10.1.2's doc fragments amazon.aws.common.modules, amazon.aws.region.modules and
amazon.aws.boto3, shipped here so that this collection's docs render where amazon.aws is not
installed: galaxy-importer renders every module's docs in one sterile ansible-doc call (only this
collection, dependencies not installed), which fails for all modules when one fragment is missing.
Declaring amazon.aws in galaxy.yml does not help there. The options themselves still come from
amazon.aws at run time (AnsibleAWSModule); ansible-test sanity (validate-modules) checks that these
docs match its argument spec. Refresh this file when the amazon.aws requirement moves.
"""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  access_key:
    description:
    - AWS access key ID.
    - See the AWS documentation for more information about access tokens
      U(https://docs.aws.amazon.com/general/latest/gr/aws-sec-cred-types.html#access-keys-and-secret-access-keys).
    - The C(AWS_ACCESS_KEY_ID) or C(AWS_ACCESS_KEY) environment variables may also be used in decreasing order of
      preference.
    - The I(aws_access_key) and I(profile) options are mutually exclusive.
    - The I(aws_access_key_id) alias was added in release 5.1.0 for consistency with the AWS botocore SDK.
    type: str
    aliases:
    - aws_access_key_id
    - aws_access_key
  secret_key:
    description:
    - AWS secret access key.
    - See the AWS documentation for more information about access tokens
      U(https://docs.aws.amazon.com/general/latest/gr/aws-sec-cred-types.html#access-keys-and-secret-access-keys).
    - The C(AWS_SECRET_ACCESS_KEY) or C(AWS_SECRET_KEY) environment variables may also be used in decreasing order
      of preference.
    - The I(secret_key) and I(profile) options are mutually exclusive.
    - The I(aws_secret_access_key) alias was added in release 5.1.0 for consistency with the AWS botocore SDK.
    type: str
    aliases:
    - aws_secret_access_key
    - aws_secret_key
  session_token:
    description:
    - AWS STS session token for use with temporary credentials.
    - See the AWS documentation for more information about access tokens
      U(https://docs.aws.amazon.com/general/latest/gr/aws-sec-cred-types.html#access-keys-and-secret-access-keys).
    - The C(AWS_SESSION_TOKEN) environment variable may also be used.
    - The I(session_token) and I(profile) options are mutually exclusive.
    type: str
    aliases:
    - aws_session_token
  profile:
    description:
    - A named AWS profile to use for authentication.
    - See the AWS documentation for more information about named profiles
      U(https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-profiles.html).
    - The C(AWS_PROFILE) environment variable may also be used.
    - The I(profile) option is mutually exclusive with the I(aws_access_key), I(aws_secret_key) and I(session_token)
      options.
    type: str
    aliases:
    - aws_profile
  endpoint_url:
    description:
    - URL to connect to instead of the default AWS endpoints.  While this can be used to connection to other AWS-compatible
      services the amazon.aws and community.aws collections are only tested against AWS.
    - The  C(AWS_URL) environment variable may also be used.
    type: str
    aliases:
    - aws_endpoint_url
  aws_ca_bundle:
    description:
    - The location of a CA Bundle to use when validating SSL certificates.
    - The C(AWS_CA_BUNDLE) environment variable may also be used.
    type: path
  validate_certs:
    description:
    - When set to C(false), SSL certificates will not be validated for communication with the AWS APIs.
    - Setting I(validate_certs=false) is strongly discouraged, as an alternative, consider setting I(aws_ca_bundle)
      instead.
    type: bool
    default: true
  aws_config:
    description:
    - A dictionary to modify the botocore configuration.
    - Parameters can be found in the AWS documentation
      U(https://botocore.amazonaws.com/v1/documentation/api/latest/reference/config.html#botocore.config.Config).
    type: dict
  debug_botocore_endpoint_logs:
    description:
    - Use a C(botocore.endpoint) logger to parse the unique (rather than total) C("resource:action") API calls made
      during a task, outputing the set to the resource_actions key in the task results. Use the C(aws_resource_action)
      callback to output to total list made during a playbook.
    - The C(ANSIBLE_DEBUG_BOTOCORE_LOGS) environment variable may also be used.
    type: bool
    default: false
  region:
    description:
    - The AWS region to use.
    - For global services such as IAM, Route53 and CloudFront, I(region) is ignored.
    - The C(AWS_REGION) environment variable may also be used.
    - See the Amazon AWS documentation for more information U(http://docs.aws.amazon.com/general/latest/gr/rande.html#ec2_region).
    type: str
    aliases:
    - aws_region
notes:
- B(Caution:) For modules, environment variables and configuration files are read from the Ansible 'host' context
  and not the 'controller' context. As such, files may need to be explicitly copied to the 'host'.  For lookup and
  connection plugins, environment variables and configuration files are read from the Ansible 'controller' context
  and not the 'host' context.
- The AWS SDK (boto3) that Ansible uses may also read defaults for credentials and other settings, such as the region,
  from its configuration files in the Ansible 'host' context (typically C(~/.aws/credentials)). See
    U(https://boto3.amazonaws.com/v1/documentation/api/latest/guide/credentials.html)
  for more information.
requirements:
- python >= 3.6
- boto3 >= 1.34.0
- botocore >= 1.34.0
"""
