# The DDNS endpoint for hosts outside AWS, with CloudFront in front of it for routers that
# only speak plain HTTP. Its package: `cargo lambda build --release --arm64 --output-format zip
# --bin ec2-dns-ddns` (target/lambda/ec2-dns-ddns/bootstrap.zip). Keep the origin secret out
# of files: export TF_VAR_ddns_origin_secret=… before
#
#   terraform apply -var-file=example.tfvars -var-file=ddns.tfvars
#
# make infra-test also gives this file to checkov, so that it checks the DDNS resources.
enable_ddns     = true
ddns_cloudfront = true
