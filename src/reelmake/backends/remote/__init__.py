"""What every hosted-API backend needs: allowed URLs and ``Retry-After`` (``http``), submit pacing
under the provider's rate limit (``pacing``), an upload cache keyed by content (``uploads``), and
verified streaming downloads (``download``)."""
