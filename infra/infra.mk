# Infrastructure targets of ec2-dns (CDK and Terraform), included by the root Makefile.
# Paths are relative to the repository root; every target runs offline except the
# package registries (npm, PyPI) used by infra-deps.
#
#   make infra-deps    npm ci (infra/cdk) and a venv with cfn-lint and checkov (infra/.venv)
#   make infra-synth   cdk synth of the example app (cdk-nag AwsSolutions fails on findings)
#   make tf-init       terraform init of the module and the example: hashicorp/aws from a local
#                      provider mirror when the machine has one, else from the Terraform
#                      registry (scripts/tf-cli-config.sh decides; TF_PROVIDER_MIRROR=DIR|none)
#   make infra-plan    terraform plan of the examples (basic, member), offline (fake credentials)
#   make infra-template the standalone CloudFormation template with Parameters (no CDK or
#                      Terraform needed to deploy it): infra/.build/ec2-dns.template.json,
#                      or TEMPLATE_OUT=FILE
#   make infra-jsii    jsii build of the construct library (infra/cdk/dist, .jsii)
#   make infra-test    everything: type check, template tests, synth + cdk-nag, cfn-lint,
#                      checkov (CloudFormation and Terraform), terraform fmt/validate/test,
#                      offline plans, the CDK/Terraform parity test (central and member side),
#                      the standalone template (cfn-lint) and the jsii build
#
# LAMBDA_ZIP is the package both flavours deploy, DDNS_LAMBDA_ZIP the DDNS endpoint's
# (ec2-dns-ddns); when one does not exist, synth and plan use a placeholder zip in
# infra/.build (templates do not depend on the code inside).

# Keep the including Makefile's default goal.
INFRA_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

LAMBDA_ZIP ?= target/lambda/ec2-dns/bootstrap.zip
DDNS_LAMBDA_ZIP ?= target/lambda/ec2-dns-ddns/bootstrap.zip

INFRA_DIR      := infra
INFRA_BUILD    := $(INFRA_DIR)/.build
INFRA_VENV     := $(INFRA_DIR)/.venv
INFRA_CDK      := $(INFRA_DIR)/cdk
INFRA_TF       := $(INFRA_DIR)/terraform
INFRA_TF_EX    := $(INFRA_TF)/examples/basic
INFRA_TF_EX_MEMBER := $(INFRA_TF)/examples/member
INFRA_TFRC     := $(INFRA_BUILD)/terraformrc
INFRA_PLAN     := $(INFRA_BUILD)/tfplan
INFRA_MEMBER_PLAN := $(INFRA_BUILD)/tfplan-member
INFRA_TEMPLATE := $(INFRA_CDK)/cdk.out/Ec2Dns.template.json
INFRA_MEMBER_TEMPLATE := $(INFRA_CDK)/cdk.out/Ec2DnsMember.template.json
# The standalone template's file (make infra-template TEMPLATE_OUT=/abs/or/relative/path.json).
TEMPLATE_OUT ?= $(INFRA_BUILD)/ec2-dns.template.json
INFRA_CFN_TEMPLATE = $(TEMPLATE_OUT)

# The same example settings go to both flavours (the parity test compares their output).
INFRA_EXAMPLE_DOMAINS := dyn.example.com,Other.Example.org.
INFRA_EXAMPLE_ZONES   := Z0123456789ABCDEFGHIJ,Z9876543210ZYXWVUTSRQ
INFRA_EXAMPLE_ACCOUNT := 123456789012
INFRA_EXAMPLE_REGION  := us-east-1
# The example enables the DDNS endpoint with CloudFront, so that synth, plan, the linters and
# the parity test cover it. The origin secret is an example value, never deployed.
INFRA_EXAMPLE_ORIGIN_SECRET := example-origin-secret-offline-only
# Several accounts and regions: the central example manages two other accounts in three
# regions; the member example (CDK stack Ec2DnsMember, Terraform examples/member) is one of
# those accounts, its role in the first region. The reconciler's role is the Terraform
# module's name for it (the CDK's is generated; any ARN of the central account does here).
INFRA_EXAMPLE_ACCOUNTS        := 210987654321,345678901234
INFRA_EXAMPLE_REGIONS         := us-east-1,eu-west-1,eu-central-1
INFRA_EXAMPLE_MEMBER_ACCOUNT  := 210987654321
INFRA_EXAMPLE_MEMBER_REGION   := eu-west-1
INFRA_EXAMPLE_MEMBER_REGION_2 := eu-central-1
INFRA_EXAMPLE_RECONCILER_ROLE := arn:aws:iam::$(INFRA_EXAMPLE_ACCOUNT):role/ec2-dns-function
# The operators the member role also trusts (ec2-dns-ctl in a member account): a read-only
# operator's role and a writer's SSO role (path included), both of the central account.
# tests/e2e/test_iam.py runs the CLI as them.
INFRA_EXAMPLE_OPERATOR_PRINCIPALS := arn:aws:iam::$(INFRA_EXAMPLE_ACCOUNT):role/ec2-dns-operator,arn:aws:iam::$(INFRA_EXAMPLE_ACCOUNT):role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Ec2DnsWriter_0123456789abcdef
# A deployment id given explicitly (DEPLOYMENT_ID of both functions), so that the parity test
# compares how both flavours pass it.
INFRA_EXAMPLE_DEPLOYMENT_ID   := prod
# The marker style and the Route53 budget of both functions, given explicitly for the same
# reason, and each other than the function's default (plain, 5, 50): the parity test sees the
# given value passed, not a default a flavour might write by itself. tests/e2e/test_iam.py
# runs the binaries with them (opaque markers included).
INFRA_EXAMPLE_MARKER_STYLE    := opaque
INFRA_EXAMPLE_R53_REQUESTS    := 8
INFRA_EXAMPLE_R53_CHANGES     := 200
# Sharded reconciles of everything, turned on and with a shard size other than the function's
# default (2000), for the same reason: the parity test sees both passed, and requires QUEUE_URL
# and the rights a sharded run needs.
INFRA_EXAMPLE_SHARDED_RECONCILE := true
INFRA_EXAMPLE_SHARD_SIZE      := 5000
# Auto Scaling lifecycle hooks (docs/fleets.md), central and member side alike: the hooks the
# function completes and the groups it may complete them on (in the central account and in the
# member account), so that the parity test compares the lifecycle rules and rights of both
# sides and tests/e2e/test_iam.py checks the lifecycle calls against them.
INFRA_EXAMPLE_LIFECYCLE_HOOKS  := web-launch,web-terminate
INFRA_EXAMPLE_LIFECYCLE_GROUPS := web,batch

INFRA_NPM_STAMP  := $(INFRA_CDK)/node_modules/.ec2dns-installed
INFRA_VENV_STAMP := $(INFRA_VENV)/.ec2dns-installed
INFRA_TF_STAMPS  := $(INFRA_TF)/.terraform/.ec2dns-init $(INFRA_TF_EX)/.terraform/.ec2dns-init \
	$(INFRA_TF_EX_MEMBER)/.terraform/.ec2dns-init

# Offline: no update checks, notices or telemetry; no instance metadata lookups.
INFRA_ENV := CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true \
	CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 AWS_EC2_METADATA_DISABLED=true \
	NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false \
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=1 JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1
INFRA_TF_ENV := $(INFRA_ENV) TF_CLI_CONFIG_FILE=$(abspath $(INFRA_TFRC))
# Fake static credentials for the offline plan; the provider never calls AWS with them.
INFRA_FAKE_AWS := AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=offline-plan-only \
	AWS_REGION=$(INFRA_EXAMPLE_REGION) AWS_PROFILE= AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

# Absolute path of the package (or of the placeholder); evaluated when a recipe runs.
INFRA_ZIP = $$($(abspath $(INFRA_DIR))/scripts/lambda-zip.sh "$(abspath $(LAMBDA_ZIP))" "$(abspath $(INFRA_BUILD))")
INFRA_DDNS_ZIP = $$($(abspath $(INFRA_DIR))/scripts/lambda-zip.sh "$(abspath $(DDNS_LAMBDA_ZIP))" "$(abspath $(INFRA_BUILD))")

INFRA_TF_LIST = $(shell python3 -c 'import json,sys; print(json.dumps(sys.argv[1].split(",")))' '$(1)')

.PHONY: FORCE infra-deps infra-synth tf-init infra-plan infra-policies infra-test infra-template infra-jsii \
	infra-test-cdk infra-test-tf infra-test-release infra-test-parity infra-clean

# ---- dependencies ------------------------------------------------------------------------

infra-deps: $(INFRA_NPM_STAMP) $(INFRA_VENV_STAMP) ## npm ci (infra/cdk) and cfn-lint + checkov in infra/.venv

$(INFRA_NPM_STAMP): $(INFRA_CDK)/package.json $(INFRA_CDK)/package-lock.json
	cd $(INFRA_CDK) && $(INFRA_ENV) npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(INFRA_VENV_STAMP): $(INFRA_DIR)/requirements.txt
	test -x $(INFRA_VENV)/bin/python || python3 -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/pip install --disable-pip-version-check -q -r $(INFRA_DIR)/requirements.txt
	touch $@

# ---- CDK ---------------------------------------------------------------------------------

infra-synth: $(INFRA_NPM_STAMP) ## cdk synth of the example app, cdk-nag AwsSolutions
	cd $(INFRA_CDK) && rm -rf cdk.out && $(INFRA_ENV) ./node_modules/.bin/cdk synth --no-notices --quiet \
		-c allowedDomains=$(INFRA_EXAMPLE_DOMAINS) -c hostedZoneIds=$(INFRA_EXAMPLE_ZONES) \
		-c lambdaZip="$(INFRA_ZIP)" -c deploymentId=$(INFRA_EXAMPLE_DEPLOYMENT_ID) \
		-c markerStyle=$(INFRA_EXAMPLE_MARKER_STYLE) -c route53RequestsPerSecond=$(INFRA_EXAMPLE_R53_REQUESTS) \
		-c route53ChangesPerSecond=$(INFRA_EXAMPLE_R53_CHANGES) \
		-c shardedReconcile=$(INFRA_EXAMPLE_SHARDED_RECONCILE) -c shardSize=$(INFRA_EXAMPLE_SHARD_SIZE) \
		-c enableDdns=true -c ddnsCloudfront=true -c ddnsOriginSecret=$(INFRA_EXAMPLE_ORIGIN_SECRET) \
		-c ddnsLambdaZip="$(INFRA_DDNS_ZIP)" \
		-c accounts=$(INFRA_EXAMPLE_ACCOUNTS) -c regions=$(INFRA_EXAMPLE_REGIONS) \
		-c centralAccountId=$(INFRA_EXAMPLE_ACCOUNT) -c centralRegion=$(INFRA_EXAMPLE_REGION) \
		-c reconcilerRoleArn=$(INFRA_EXAMPLE_RECONCILER_ROLE) -c operatorPrincipalArns=$(INFRA_EXAMPLE_OPERATOR_PRINCIPALS) \
		-c lifecycleHooks=$(INFRA_EXAMPLE_LIFECYCLE_HOOKS) -c lifecycleGroups=$(INFRA_EXAMPLE_LIFECYCLE_GROUPS)
	@echo "infra: synthesized $(INFRA_TEMPLATE) and $(INFRA_MEMBER_TEMPLATE) (cdk-nag AwsSolutions: no unacknowledged findings)"

infra-test-cdk: $(INFRA_NPM_STAMP) $(INFRA_VENV_STAMP)
	cd $(INFRA_CDK) && ./node_modules/.bin/tsc --noEmit -p .
	cd $(INFRA_CDK) && $(INFRA_ENV) node --import tsx --test test/*.test.ts
	$(MAKE) --no-print-directory -f $(INFRA_DIR)/infra.mk infra-synth LAMBDA_ZIP="$(LAMBDA_ZIP)" DDNS_LAMBDA_ZIP="$(DDNS_LAMBDA_ZIP)"
	$(INFRA_VENV)/bin/cfn-lint $(INFRA_TEMPLATE) $(INFRA_MEMBER_TEMPLATE)
	$(INFRA_VENV)/bin/checkov --skip-download --quiet --compact --framework cloudformation \
		-f $(INFRA_TEMPLATE) -f $(INFRA_MEMBER_TEMPLATE)

# ---- release artefacts of the infrastructure ------------------------------------------

# The template for people who use neither CDK nor Terraform (make release ships it).
infra-template: $(INFRA_NPM_STAMP) ## standalone CloudFormation template with Parameters (TEMPLATE_OUT=FILE, default infra/.build/ec2-dns.template.json)
	cd $(INFRA_CDK) && $(INFRA_ENV) npm run --silent template -- $(abspath $(INFRA_CFN_TEMPLATE))

infra-jsii: $(INFRA_NPM_STAMP) ## jsii build of the CDK construct library (infra/cdk/dist and .jsii)
	cd $(INFRA_CDK) && $(INFRA_ENV) npm run --silent jsii

infra-test-release: $(INFRA_NPM_STAMP) $(INFRA_VENV_STAMP)
	$(MAKE) --no-print-directory -f $(INFRA_DIR)/infra.mk infra-template
	$(INFRA_VENV)/bin/cfn-lint $(INFRA_CFN_TEMPLATE)
	$(MAKE) --no-print-directory -f $(INFRA_DIR)/infra.mk infra-jsii

# ---- Terraform ---------------------------------------------------------------------------

# Regenerated on every run (a mirror may appear or go away), rewritten only when it changes.
$(INFRA_TFRC): FORCE
	$(INFRA_DIR)/scripts/tf-cli-config.sh $@

FORCE:

tf-init: $(INFRA_TF_STAMPS) ## terraform init of module and examples (provider mirror if present, else the registry)

# The tests' module blocks (tests/member.tftest.hcl, the root of tests/side_by_side) are
# installed by init too.
$(INFRA_TF)/.terraform/.ec2dns-init: $(INFRA_TFRC) $(INFRA_TF)/versions.tf $(wildcard $(INFRA_TF)/tests/*.tftest.hcl) \
		$(wildcard $(INFRA_TF)/tests/*/*.tf)
	$(INFRA_TF_ENV) terraform -chdir=$(INFRA_TF) init -backend=false -input=false -no-color >/dev/null
	touch $@

$(INFRA_TF_EX)/.terraform/.ec2dns-init: $(INFRA_TFRC) $(INFRA_TF_EX)/versions.tf $(INFRA_TF)/versions.tf
	$(INFRA_TF_ENV) terraform -chdir=$(INFRA_TF_EX) init -input=false -no-color >/dev/null
	touch $@

$(INFRA_TF_EX_MEMBER)/.terraform/.ec2dns-init: $(INFRA_TFRC) $(INFRA_TF_EX_MEMBER)/versions.tf $(INFRA_TF_EX_MEMBER)/main.tf \
		$(INFRA_TF)/modules/member/versions.tf
	$(INFRA_TF_ENV) terraform -chdir=$(INFRA_TF_EX_MEMBER) init -input=false -no-color >/dev/null
	touch $@

infra-plan: tf-init ## terraform plan of the examples (basic, member), offline
	mkdir -p $(INFRA_BUILD)
	$(INFRA_TF_ENV) $(INFRA_FAKE_AWS) terraform -chdir=$(INFRA_TF_EX) plan -input=false -no-color \
		-lock=false -refresh=false -out=$(abspath $(INFRA_PLAN)) \
		-var offline=true -var account_id=$(INFRA_EXAMPLE_ACCOUNT) -var region=$(INFRA_EXAMPLE_REGION) \
		-var 'allowed_domains=$(call INFRA_TF_LIST,$(INFRA_EXAMPLE_DOMAINS))' \
		-var 'hosted_zone_ids=$(call INFRA_TF_LIST,$(INFRA_EXAMPLE_ZONES))' \
		-var lambda_zip="$(INFRA_ZIP)" -var deployment_id=$(INFRA_EXAMPLE_DEPLOYMENT_ID) \
		-var marker_style=$(INFRA_EXAMPLE_MARKER_STYLE) -var route53_requests_per_second=$(INFRA_EXAMPLE_R53_REQUESTS) \
		-var route53_changes_per_second=$(INFRA_EXAMPLE_R53_CHANGES) \
		-var sharded_reconcile=$(INFRA_EXAMPLE_SHARDED_RECONCILE) -var shard_size=$(INFRA_EXAMPLE_SHARD_SIZE) \
		-var enable_ddns=true -var ddns_cloudfront=true -var ddns_origin_secret=$(INFRA_EXAMPLE_ORIGIN_SECRET) \
		-var ddns_lambda_zip="$(INFRA_DDNS_ZIP)" \
		-var 'accounts=$(call INFRA_TF_LIST,$(INFRA_EXAMPLE_ACCOUNTS))' \
		-var 'regions=$(call INFRA_TF_LIST,$(INFRA_EXAMPLE_REGIONS))' \
		-var 'lifecycle_hooks=$(call INFRA_TF_LIST,$(INFRA_EXAMPLE_LIFECYCLE_HOOKS))' \
		-var 'lifecycle_groups=$(call INFRA_TF_LIST,$(INFRA_EXAMPLE_LIFECYCLE_GROUPS))' > $(INFRA_BUILD)/tfplan.txt \
		|| { cat $(INFRA_BUILD)/tfplan.txt; exit 1; }
	grep -E '^Plan:' $(INFRA_BUILD)/tfplan.txt
	$(INFRA_TF_ENV) terraform -chdir=$(INFRA_TF_EX) show -json $(abspath $(INFRA_PLAN)) > $(INFRA_PLAN).json
	$(INFRA_TF_ENV) $(INFRA_FAKE_AWS) terraform -chdir=$(INFRA_TF_EX_MEMBER) plan -input=false -no-color \
		-lock=false -refresh=false -out=$(abspath $(INFRA_MEMBER_PLAN)) \
		-var offline=true -var account_id=$(INFRA_EXAMPLE_MEMBER_ACCOUNT) \
		-var region=$(INFRA_EXAMPLE_MEMBER_REGION) -var secondary_region=$(INFRA_EXAMPLE_MEMBER_REGION_2) \
		-var central_account_id=$(INFRA_EXAMPLE_ACCOUNT) -var central_region=$(INFRA_EXAMPLE_REGION) \
		-var reconciler_role_arn=$(INFRA_EXAMPLE_RECONCILER_ROLE) \
		-var 'operator_principal_arns=$(call INFRA_TF_LIST,$(INFRA_EXAMPLE_OPERATOR_PRINCIPALS))' \
		-var 'lifecycle_hooks=$(call INFRA_TF_LIST,$(INFRA_EXAMPLE_LIFECYCLE_HOOKS))' \
		-var 'lifecycle_groups=$(call INFRA_TF_LIST,$(INFRA_EXAMPLE_LIFECYCLE_GROUPS))' > $(INFRA_BUILD)/tfplan-member.txt \
		|| { cat $(INFRA_BUILD)/tfplan-member.txt; exit 1; }
	grep -E '^Plan:' $(INFRA_BUILD)/tfplan-member.txt
	$(INFRA_TF_ENV) terraform -chdir=$(INFRA_TF_EX_MEMBER) show -json $(abspath $(INFRA_MEMBER_PLAN)) > $(INFRA_MEMBER_PLAN).json

# checkov reads examples/basic/ddns.tfvars, which turns the DDNS endpoint on: without it,
# checkov would leave out the endpoint's resources (their count is 0 by default).
infra-test-tf: tf-init $(INFRA_VENV_STAMP)
	$(INFRA_TF_ENV) terraform fmt -check -recursive -diff $(INFRA_TF)
	$(INFRA_TF_ENV) terraform -chdir=$(INFRA_TF) validate -no-color
	$(INFRA_TF_ENV) terraform -chdir=$(INFRA_TF_EX) validate -no-color
	$(INFRA_TF_ENV) terraform -chdir=$(INFRA_TF_EX_MEMBER) validate -no-color
	$(INFRA_TF_ENV) terraform -chdir=$(INFRA_TF) test -no-color -var lambda_zip="$(INFRA_ZIP)" \
		-var ddns_lambda_zip="$(INFRA_DDNS_ZIP)"
	$(MAKE) --no-print-directory -f $(INFRA_DIR)/infra.mk infra-plan LAMBDA_ZIP="$(LAMBDA_ZIP)" DDNS_LAMBDA_ZIP="$(DDNS_LAMBDA_ZIP)"
	$(INFRA_VENV)/bin/checkov --skip-download --quiet --compact --framework terraform \
		-d $(INFRA_TF) --skip-path '\.terraform' --var-file $(INFRA_TF_EX)/ddns.tfvars

# ---- the policies as deployed, for the e2e IAM check -------------------------------------

# tests/e2e/test_iam.py checks every call the binaries make against the policies of the
# synthesized templates and of the plans: remade here only when a source is newer, so that
# `make test` (whose infra-test has just made them) pays nothing.
INFRA_POLICY_SOURCES = $(wildcard $(INFRA_CDK)/lib/*.ts $(INFRA_CDK)/bin/*.ts $(INFRA_TF)/*.tf \
	$(INFRA_TF)/modules/member/*.tf $(INFRA_TF)/examples/*/*.tf) $(INFRA_DIR)/infra.mk

infra-policies: $(INFRA_TEMPLATE) $(INFRA_PLAN).json ## the synthesized templates and the plans, when older than their sources

# One synth writes both templates, one infra-plan both plans.
$(INFRA_TEMPLATE): $(INFRA_POLICY_SOURCES) | $(INFRA_NPM_STAMP)
	$(MAKE) --no-print-directory -f $(INFRA_DIR)/infra.mk infra-synth LAMBDA_ZIP="$(LAMBDA_ZIP)" DDNS_LAMBDA_ZIP="$(DDNS_LAMBDA_ZIP)"

$(INFRA_PLAN).json: $(INFRA_POLICY_SOURCES)
	$(MAKE) --no-print-directory -f $(INFRA_DIR)/infra.mk infra-plan LAMBDA_ZIP="$(LAMBDA_ZIP)" DDNS_LAMBDA_ZIP="$(DDNS_LAMBDA_ZIP)"

# ---- parity ------------------------------------------------------------------------------

infra-test-parity:
	python3 $(INFRA_DIR)/scripts/parity.py $(INFRA_TEMPLATE) $(INFRA_PLAN).json \
		--account $(INFRA_EXAMPLE_ACCOUNT) --region $(INFRA_EXAMPLE_REGION) \
		--member-template $(INFRA_MEMBER_TEMPLATE) --member-plan $(INFRA_MEMBER_PLAN).json \
		--member-account $(INFRA_EXAMPLE_MEMBER_ACCOUNT) --member-region $(INFRA_EXAMPLE_MEMBER_REGION) \
		--reconciler-role-arn $(INFRA_EXAMPLE_RECONCILER_ROLE) --operator-principal-arns $(INFRA_EXAMPLE_OPERATOR_PRINCIPALS) \
		--dump $(INFRA_BUILD)/parity-models.json

infra-test: infra-deps ## CDK + Terraform tests, linters, offline plan, parity
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory -j2 --output-sync=target -f $(INFRA_DIR)/infra.mk \
		infra-test-cdk infra-test-tf infra-test-release LAMBDA_ZIP="$(LAMBDA_ZIP)" DDNS_LAMBDA_ZIP="$(DDNS_LAMBDA_ZIP)" && \
	$(MAKE) --no-print-directory -f $(INFRA_DIR)/infra.mk infra-test-parity LAMBDA_ZIP="$(LAMBDA_ZIP)" DDNS_LAMBDA_ZIP="$(DDNS_LAMBDA_ZIP)" && \
	echo "infra-test: all infrastructure checks passed in $$(( $$(date +%s) - start )) s"

infra-clean: ## remove infra build output (keeps node_modules and the venv)
	rm -rf $(INFRA_BUILD) $(INFRA_CDK)/cdk.out $(INFRA_CDK)/dist $(INFRA_CDK)/.jsii $(INFRA_TF)/.terraform $(INFRA_TF_EX)/.terraform \
		$(INFRA_TF_EX_MEMBER)/.terraform

.DEFAULT_GOAL := $(INFRA_SAVED_DEFAULT_GOAL)
