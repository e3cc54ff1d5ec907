"""What every hosted-API backend needs: allowed URLs and rate limits (``http``), an upload cache
keyed by content (``uploads``), and verified streaming downloads (``download``)."""
